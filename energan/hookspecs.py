"""The hooks an energan plugin can implement.

Registration hooks, one per component kind (``register_energies``, ``register_losses``, ...: the
records in :mod:`energan.kinds`, from which :func:`registration_hooks` makes them), run once, when
the plugin manager's registries are built. Each receives a ``register`` callable owned by the host::

    register(name, factory, *, params=None, description=None)

``params`` is a dataclass of the component's parameters (see :func:`energan.params.param`);
the host validates user values against it once and calls ``factory(params, **context)`` with
the resolved instance, or ``factory(**context)`` for a component registered without ``params``.
The context each kind receives (keyword arguments) is documented on its hook; what the factory
returns is checked against the kind's protocol when the component is built.

Lifecycle hooks are for observers (progress, logs, sample grids, early stopping); they are
called at log and evaluation intervals only, never once per step for the maths.
"""

from __future__ import annotations

import argparse
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from energan.kinds import ComponentKind
    from energan.run import Run

hookspec = pluggy.HookspecMarker("energan")
hookimpl = pluggy.HookimplMarker("energan")


class Register(Protocol):
    """The callable the host passes to registration hooks."""

    def __call__(self, name: str, factory: Any, *, params: type | None = None, description: str | None = None) -> None: ...


def registration_hooks(kinds: Sequence[ComponentKind]) -> types.SimpleNamespace:
    """The registration hookspec of every kind, documented from its record, for ``add_hookspecs``."""
    hooks = types.SimpleNamespace()
    for kind in kinds:

        def register(register: Register) -> None: ...

        register.__name__ = register.__qualname__ = kind.hook
        register.__doc__ = f"Register {kind.summary}.\n\nFactory context: {kind.context}."
        setattr(hooks, kind.hook, hookspec(register))
    return hooks


@hookspec
def register_commands(cli: argparse._SubParsersAction) -> None:
    """Add subcommands to ``energan``: ``parser = cli.add_parser(name, help=...)``, then
    ``parser.set_defaults(handler=function)``; the handler receives the parsed namespace and
    returns an exit code (or None for 0). Keep heavy imports inside the handler.
    """


@hookspec
def on_train_start(run: Run) -> None:
    """A run is about to start (or resume) at ``run.step``."""


@hookspec
def on_log(run: Run, step: int, logs: dict[str, float]) -> None:
    """Training scalars (losses, energies, regularizers, it/s) at a log interval."""


@hookspec
def on_evaluate(run: Run, step: int, metrics: dict[str, float]) -> None:
    """Metric values at an evaluation interval."""


@hookspec
def on_train_end(run: Run) -> None:
    """The run finished, stopped on an error or was interrupted; ``run.status`` says which."""

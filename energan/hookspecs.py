"""The hooks an energan plugin can implement.

Registration hooks run once, when the plugin manager's registries are built. Each receives a
``register`` callable owned by the host::

    register(name, factory, *, params=None, description=None)

``params`` is a dataclass of the component's parameters (see :func:`energan.params.param`);
the host validates user values against it once and calls ``factory(params, **context)`` with
the resolved instance, or ``factory(**context)`` for a component registered without ``params``.
The context each kind receives (keyword arguments) is documented on its hook.

Lifecycle hooks are for observers (progress, logs, sample grids, early stopping); they are
called at log and evaluation intervals only, never once per step for the maths.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from energan.run import Run

hookspec = pluggy.HookspecMarker("energan")
hookimpl = pluggy.HookimplMarker("energan")


class Register(Protocol):
    """The callable the host passes to registration hooks."""

    def __call__(self, name: str, factory: Any, *, params: type | None = None, description: str | None = None) -> None: ...


@hookspec
def register_energies(register: Register) -> None:
    """Register energy functions s(x): low on data, high on generated samples.

    Factory context: ``shape`` (C, H, W) of the images. The factory returns an ``nn.Module``
    whose forward maps a batch [B, C, H, W] to an :class:`energan.components.EnergyOutput`,
    or simply to a tensor of shape [B] (it is then wrapped; it exposes no code).
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register losses: objects with ``discriminator(s_real, s_fake)`` and ``generator(s_fake)``.

    Factory context: none. Subclass :class:`energan.components.SeparableLoss` to state the
    loss as pointwise penalties ℓ_real, ℓ_fake and the generator's f (the lab uses them).
    """


@hookspec
def register_regularizers(register: Register) -> None:
    """Register regularizers: :class:`energan.components.Regularizer` instances.

    Factory context: none. Each regularizer declares its ``side`` ("discriminator" or
    "generator") and ``weight``; the trainer adds ``weight * reg(batch)`` to that side's loss.
    """


@hookspec
def register_generators(register: Register) -> None:
    """Register generators: ``nn.Module`` mapping z [B, latent_dim] to images [B, C, H, W].

    Factory context: ``shape`` (C, H, W). The module must have an int attribute ``latent_dim``.
    """


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets: the factory returns an :class:`energan.data.ImageData`.

    Factory context: ``data_dir`` (a path or None, from ``--data-dir``).
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Register metrics: objects with ``evaluate(generate, data, final) -> dict[str, float]``.

    Factory context: none. ``generate(n)`` returns n generated images in [-1, 1]; ``final`` is
    True at a run's last evaluation and in ``energan evaluate`` (a metric may score fewer samples
    at the evaluations during training).
    """


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

"""Finding and loading plugins: built-ins, the ``energan`` entry-point group, and ``-p``.

Every plugin is loaded in isolation: one that fails to import, or whose registration hook
raises, is skipped with a :class:`PluginWarning` naming it (or re-raised in strict mode),
so a broken third-party package never takes the CLI down.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata
import importlib.util
import sys
import types
import warnings
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import pluggy

from energan import hookspecs, kinds
from energan.errors import ConfigError, EnerganError, PluginError, RegistrationError
from energan.params import closest
from energan.registry import Registries, Registry

ENTRY_POINT_GROUP = "energan"
OPT_IN = "OPT_IN"  # the module attribute of an observer plugin that runs only when a run's ``log`` names it
DEFAULT_PLUGINS: tuple[str, ...] = (
    "autoencoder",
    "margin",
    "logistic",
    "lsif",
    "began",
    "magan",
    "pullaway",
    "gradient_penalties",
    "generators",
    "digits",
    "mnist5k",
    "mixtures",
    "mnist",
    "folder",
    "inception",
    "fid",
    "ood",
    "outliers",
    "progress",
    "jsonl",
    "curves",
    "samples",
    "tensorboard",
)


class PluginWarning(UserWarning):
    """A plugin was skipped because it failed to load or to register."""


@dataclasses.dataclass(frozen=True)
class PluginInfo:
    """Where a loaded plugin comes from."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


class Plugins:
    """A loaded plugin manager, the origin of each plugin, and the registries they fill."""

    def __init__(self, manager: pluggy.PluginManager, origins: dict[str, tuple[str | None, str | None]], strict: bool):
        self.manager = manager
        self.hook = manager.hook
        self._origins = origins
        self._strict = strict
        self._failed_observers: set[str] = set()

    def info(self) -> list[PluginInfo]:
        """Name, module, distribution, version and implemented hooks of every plugin."""
        rows = []
        for name, plugin in self.manager.list_name_plugin():
            distribution, version = self._origins.get(name, (None, None))
            hooks = tuple(sorted(caller.name for caller in self.manager.get_hookcallers(plugin) or ()))
            rows.append(PluginInfo(name, getattr(plugin, "__name__", repr(plugin)), distribution, version, hooks))
        return sorted(rows, key=lambda row: row.name)

    @cached_property
    def registries(self) -> Registries:
        """Run every kind's registration hook once, each plugin isolated from the others."""
        registries = [Registry(kind) for kind in kinds.KINDS]
        for registry in registries:
            hook_name = registry.kind.hook
            for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
                staged: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

                def register(*args: Any, _staged: list = staged, **kwargs: Any) -> None:
                    _staged.append((args, kwargs))

                try:
                    impl.function(register=register)
                except (Exception, SystemExit) as error:  # a broken plugin must not take the host down
                    self._skip(impl.plugin_name, f"its {hook_name} hook raised {type(error).__name__}: {error}", error)
                    continue
                for args, kwargs in staged:
                    try:
                        registry.register(*args, plugin=impl.plugin_name, **kwargs)
                    except RegistrationError as error:  # skip that component, keep the plugin's others
                        if self._strict:
                            raise
                        warnings.warn(f"{error}; that registration was skipped", PluginWarning, stacklevel=2)
        return Registries(registries)

    def opt_in_observers(self) -> tuple[str, ...]:
        """The loaded plugins that observe a run only when its ``log`` setting names them (their
        module sets ``OPT_IN = True``, as TensorBoard's does)."""
        return tuple(name for name, plugin in self.manager.list_name_plugin() if getattr(plugin, OPT_IN, False) is True)

    def notifier(self, enabled: Sequence[str]) -> Callable[..., None]:
        """:meth:`notify` for a run whose ``log`` setting names the opt-in observers ``enabled``;
        a name that is none is a one-line error."""
        optional = self.opt_in_observers()
        for name in enabled:
            if name not in optional:
                raise ConfigError(f"log: {name!r} is not an observer{closest(name, optional)}; valid: {', '.join(optional) or 'none'}")
        return functools.partial(self.notify, skipped=frozenset(optional) - frozenset(enabled))

    def notify(self, hook_name: str, skipped: frozenset[str] | None = None, **kwargs: Any) -> None:
        """Call every observer's ``hook_name`` implementation, but ``skipped`` ones (by default the
        opt-in observers), each isolated: one that raises is reported once, naming its plugin, and
        not called again in this process (strict mode re-raises); training goes on. An energan error
        at ``on_train_start`` (a setting the user must fix, such as a missing package) stops the run
        before it trains."""
        skipped = frozenset(self.opt_in_observers()) if skipped is None else skipped
        for impl in reversed(getattr(self.manager.hook, hook_name).get_hookimpls()):  # pluggy's LIFO order
            if impl.plugin_name in self._failed_observers or impl.plugin_name in skipped:
                continue
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except (Exception, SystemExit) as error:  # sys.exit in an observer would end the run silently
                if self._strict or (hook_name == "on_train_start" and isinstance(error, EnerganError)):
                    raise
                self._failed_observers.add(impl.plugin_name)
                warnings.warn(
                    f"observer plugin {impl.plugin_name!r} raised in {hook_name} ({type(error).__name__}: {error}); "
                    "it is disabled, training goes on",
                    PluginWarning,
                    stacklevel=2,
                )

    def _skip(self, name: str, reason: str, error: BaseException) -> None:
        distribution, _ = self._origins.get(name, (None, None))
        where = f" (distribution {distribution})" if distribution else ""
        if self._strict:
            raise PluginError(f"plugin {name!r}{where}: {reason}") from error
        warnings.warn(f"plugin {name!r}{where} was skipped: {reason}", PluginWarning, stacklevel=3)


def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def load_plugins(extra: Sequence[str] = (), strict: bool = False) -> Plugins:
    """Load the built-ins, every ``energan`` entry point, and ``extra`` (``-p`` values).

    ``extra`` items are dotted module names or ``.py`` files to load, or ``no:NAME`` to block a
    plugin by name (built-in, entry point or module). In strict mode load errors re-raise.
    """
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    manager.add_hookspecs(hookspecs.registration_hooks(kinds.KINDS))
    origins: dict[str, tuple[str | None, str | None]] = {}
    loads: list[tuple[str, str | None, Callable[[], Any]]] = []

    for item in extra:
        if item.startswith("no:"):
            manager.set_blocked(item[3:])

    own_version = _distribution_version("energan") or _own_version()
    for name in DEFAULT_PLUGINS:
        module = f"energan.default_plugins.{name}"
        loads.append((name, "energan", lambda module=module: importlib.import_module(module)))
        origins[name] = ("energan", own_version)
    entry_points = {ep.name: ep for ep in _entry_points()}
    for ep in entry_points.values():
        if ep.name in origins:
            if ep.value != f"energan.default_plugins.{ep.name}":  # not the built-in itself (older installs listed them)
                _shadowing(ep, strict)
            continue
        distribution = ep.dist.name if ep.dist else None
        origins[ep.name] = (distribution, ep.dist.version if ep.dist else None)
        loads.append((ep.name, distribution, ep.load))
    for item in extra:
        if item.startswith("no:") or item in origins:
            continue
        if item in entry_points:
            continue  # every entry point loads anyway
        origins[item] = (None, None)
        loads.append((item, None, lambda item=item: _import(item)))

    plugins = Plugins(manager, origins, strict)
    for name, _distribution, load in loads:
        if manager.is_blocked(name) or manager.get_plugin(name) is not None:
            continue
        try:
            plugin = load()
        except (Exception, SystemExit) as error:  # ImportError, SyntaxError, sys.exit: anything the plugin does at import
            plugins._skip(name, f"import failed with {type(error).__name__}: {error}", error)
            continue
        if manager.is_registered(plugin):
            continue  # the same module under a second name: load it once
        try:
            manager.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as error:
            plugins._skip(name, f"it does not match the hook specifications: {error}", error)
            continue
        _warn_unknown_hooks(manager, plugin, name, strict)
    return plugins


def _warn_unknown_hooks(manager: pluggy.PluginManager, plugin: Any, name: str, strict: bool) -> None:
    """A hook implementation with no energan hook of its name (a typo) would never be called: say so."""
    known = [*(kind.hook for kind in kinds.KINDS), *(hook for hook in dir(hookspecs) if hook.startswith(("register_", "on_")))]
    for caller in manager.get_hookcallers(plugin) or ():
        if caller.has_spec():
            continue
        message = f"plugin {name!r} implements {caller.name!r}, which is no energan hook{closest(caller.name, known)}; it is never called"
        if strict:
            raise PluginError(message)
        warnings.warn(message, PluginWarning, stacklevel=3)


def _shadowing(ep: importlib.metadata.EntryPoint, strict: bool) -> None:
    """An entry point named like a built-in is skipped with a warning (an error in strict mode)."""
    distribution = ep.dist.name if ep.dist else "unknown"
    message = f"plugin {ep.name!r} (distribution {distribution}) was skipped: a built-in plugin has that name"
    if strict:
        raise PluginError(message)
    warnings.warn(message, PluginWarning, stacklevel=3)


def _import(target: str) -> types.ModuleType:
    """A module by dotted name, or a plugin file by path (``-p examples/norm_energy.py``)."""
    if not target.endswith(".py"):
        return importlib.import_module(target)
    path = Path(target)
    if not path.is_file():
        raise FileNotFoundError(f"no plugin file {path}")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _own_version() -> str:
    from energan import __version__

    return __version__

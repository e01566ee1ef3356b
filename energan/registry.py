"""Typed registries: component name -> factory, parameter dataclass and the plugin that owns it;
one registry per component kind (:mod:`energan.kinds`)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from energan.errors import ConfigError, PluginError, RegistrationError
from energan.kinds import ComponentKind
from energan.params import build_params, check_declaration, closest

T = TypeVar("T")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
NAME_RULE = "letters, digits, '_' and '-', not starting with a digit or '-'"


@dataclasses.dataclass(frozen=True)
class Component(Generic[T]):
    """One registered component: ``factory(params, **context)`` builds it, or ``factory(**context)``
    when it declares no parameter dataclass."""

    kind: ComponentKind
    name: str
    factory: Callable[..., T]
    params: type | None
    description: str
    plugin: str

    def resolve(self, values: Mapping[str, Any]) -> Any:
        """The validated parameter instance for raw ``values`` (defaults filled in)."""
        return build_params(self.params, values, f"{self.kind.name} {self.name!r}")

    def create(self, values: Mapping[str, Any], **context: Any) -> T:
        """The component from raw ``values`` (resolved, then built): for scripts and tests; a run
        builds every component from its resolved config."""
        return self.build(self.resolve(values), **context)

    def build(self, params: Any, **context: Any) -> T:
        """The component: the factory called with its resolved parameters (what :meth:`resolve`
        returned: an instance of ``self.params``, or None) and the context, checked against its
        kind's protocol."""
        if (params is None) != (self.params is None) or (params is not None and not isinstance(params, self.params)):
            raise TypeError(f"{self.kind.name} {self.name!r} is built from its resolved parameters, got {params!r}")
        built = self.factory(**context) if params is None else self.factory(params, **context)
        return self.kind.check(self.name, built)


class Registry(Generic[T]):
    """Components of one kind (energy, loss, ...) keyed by unique name."""

    def __init__(self, kind: ComponentKind) -> None:
        self.kind = kind
        self._components: dict[str, Component[T]] = {}

    def register(
        self,
        name: str,
        factory: Callable[..., T],
        *,
        params: type | None = None,
        description: str | None = None,
        plugin: str,
    ) -> None:
        """Add a component; a name that another plugin already registered is an error."""
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise RegistrationError(f"plugin {plugin!r} registered {self.kind.name} name {name!r}: names are {NAME_RULE}")
        if not callable(factory):
            raise RegistrationError(f"plugin {plugin!r} registered {self.kind.name} {name!r} with a non-callable factory")
        if params is not None:
            self._check_params(name, params, plugin)
        if name in self._components:
            other = self._components[name].plugin
            raise PluginError(f"{self.kind.name} {name!r} is registered by two plugins: {other!r} and {plugin!r}")
        summary = description or " ".join((factory.__doc__ or "").strip().split("\n\n")[0].split())  # the first paragraph
        self._components[name] = Component(self.kind, name, factory, params, summary, plugin)

    def _check_params(self, name: str, params: Any, plugin: str) -> None:
        """The parameters must be a dataclass whose ``applies`` name its own fields and choices."""
        if not (isinstance(params, type) and dataclasses.is_dataclass(params)):
            raise RegistrationError(f"plugin {plugin!r} registered {self.kind.name} {name!r}: params must be a dataclass")
        try:
            check_declaration(params)
        except ValueError as error:
            raise RegistrationError(f"plugin {plugin!r} registered {self.kind.name} {name!r}: {error}") from None

    def get(self, name: str) -> Component[T]:
        """The component called ``name``; an unknown name lists the valid ones."""
        try:
            return self._components[name]
        except KeyError:
            valid = ", ".join(sorted(self._components)) or "none registered"
            raise ConfigError(f"unknown {self.kind.name} {name!r}{closest(name, list(self._components))}; valid: {valid}") from None

    def names(self) -> list[str]:
        return sorted(self._components)

    def __iter__(self) -> Iterator[Component[T]]:
        return iter(self._components[name] for name in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._components

    def __len__(self) -> int:
        return len(self._components)


class Registries:
    """One registry per component kind: ``registries[kind]``, or by the kind's plural as an
    attribute (``registries.energies``)."""

    def __init__(self, registries: Sequence[Registry[Any]]) -> None:
        self._registries = {registry.kind.plural: registry for registry in registries}

    def __getitem__(self, kind: ComponentKind) -> Registry[Any]:
        return self._registries[kind.plural]

    def __getattr__(self, plural: str) -> Registry[Any]:
        try:
            return self.__dict__["_registries"][plural]
        except KeyError:
            raise AttributeError(f"no component kind {plural!r}; kinds: {', '.join(self.__dict__['_registries'])}") from None

    def __iter__(self) -> Iterator[Registry[Any]]:
        return iter(self._registries.values())

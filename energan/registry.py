"""Typed registries: component name -> factory, parameter dataclass and the plugin that owns it."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from energan.errors import ConfigError, PluginError, RegistrationError
from energan.params import build_params, check_declaration, closest

T = TypeVar("T")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
NAME_RULE = "letters, digits, '_' and '-', not starting with a digit or '-'"


@dataclasses.dataclass(frozen=True)
class Component(Generic[T]):
    """One registered component: ``factory(params, **context)`` builds it, or ``factory(**context)``
    when it declares no parameter dataclass."""

    kind: str
    name: str
    factory: Callable[..., T]
    params: type | None
    description: str
    plugin: str

    def resolve(self, values: Mapping[str, Any]) -> Any:
        """The validated parameter instance for raw ``values`` (defaults filled in)."""
        return build_params(self.params, values, f"{self.kind} {self.name!r}")

    def build(self, values: Any, **context: Any) -> T:
        """Call the factory with the parameters and the context.

        ``values`` is a mapping of raw values (validated here) or an instance of the parameter
        dataclass already resolved (used as is).
        """
        params = values if self.params is not None and isinstance(values, self.params) else self.resolve(values)
        return self.factory(**context) if params is None else self.factory(params, **context)


class Registry(Generic[T]):
    """Components of one kind (energy, loss, ...) keyed by unique name."""

    def __init__(self, kind: str) -> None:
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
            raise RegistrationError(f"plugin {plugin!r} registered {self.kind} name {name!r}: names are {NAME_RULE}")
        if not callable(factory):
            raise RegistrationError(f"plugin {plugin!r} registered {self.kind} {name!r} with a non-callable factory")
        if params is not None:
            self._check_params(name, params, plugin)
        if name in self._components:
            other = self._components[name].plugin
            raise PluginError(f"{self.kind} {name!r} is registered by two plugins: {other!r} and {plugin!r}")
        summary = description or " ".join((factory.__doc__ or "").strip().split("\n\n")[0].split())  # the first paragraph
        self._components[name] = Component(self.kind, name, factory, params, summary, plugin)

    def _check_params(self, name: str, params: Any, plugin: str) -> None:
        """The parameters must be a dataclass whose ``applies`` name its own fields and choices."""
        if not (isinstance(params, type) and dataclasses.is_dataclass(params)):
            raise RegistrationError(f"plugin {plugin!r} registered {self.kind} {name!r}: params must be a dataclass")
        try:
            check_declaration(params)
        except ValueError as error:
            raise RegistrationError(f"plugin {plugin!r} registered {self.kind} {name!r}: {error}") from None

    def get(self, name: str) -> Component[T]:
        """The component called ``name``; an unknown name lists the valid ones."""
        try:
            return self._components[name]
        except KeyError:
            valid = ", ".join(sorted(self._components)) or "none registered"
            raise ConfigError(f"unknown {self.kind} {name!r}{closest(name, list(self._components))}; valid: {valid}") from None

    def names(self) -> list[str]:
        return sorted(self._components)

    def __iter__(self) -> Iterator[Component[T]]:
        return iter(self._components[name] for name in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._components

    def __len__(self) -> int:
        return len(self._components)

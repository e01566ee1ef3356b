"""Typed registries: component name -> factory, parameter dataclass and the plugin that owns it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from energan.errors import ConfigError, PluginError
from energan.params import build_params, closest, params_dict

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Component(Generic[T]):
    """One registered component: ``factory(**context, **params)`` builds it."""

    kind: str
    name: str
    factory: Callable[..., T]
    params: type | None
    description: str
    plugin: str

    def resolve(self, values: Mapping[str, Any]) -> Any:
        """The validated parameter instance for raw ``values`` (defaults filled in)."""
        return build_params(self.params, values, f"{self.kind} {self.name!r}")

    def build(self, values: Mapping[str, Any], **context: Any) -> T:
        """Validate ``values`` and call the factory with the context and the parameters."""
        return self.factory(**context, **params_dict(self.resolve(values)))


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
        if not isinstance(name, str) or not name.isidentifier():
            raise PluginError(f"plugin {plugin!r} registered {self.kind} name {name!r}: names must be identifiers")
        if not callable(factory):
            raise PluginError(f"plugin {plugin!r} registered {self.kind} {name!r} with a non-callable factory")
        if params is not None and not dataclasses.is_dataclass(params):
            raise PluginError(f"plugin {plugin!r} registered {self.kind} {name!r}: params must be a dataclass")
        if name in self._components:
            other = self._components[name].plugin
            raise PluginError(f"{self.kind} {name!r} is registered by two plugins: {other!r} and {plugin!r}")
        summary = description or (factory.__doc__ or "").strip().split("\n")[0]
        self._components[name] = Component(self.kind, name, factory, params, summary, plugin)

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

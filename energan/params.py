"""Component parameters: dataclasses whose fields carry a help text and a valid range.

A component declares its parameters as a dataclass built with :func:`param`; the host
turns raw values (TOML values or ``--set`` strings) into a validated instance with
:func:`build_params`, and lists them with :func:`describe_params`.

A parameter may apply to some choices only (``param(3, "...", applies={"body": ("mlp",)})``):
a value given for it under another choice is an error (even its default: it would mean nothing),
and :func:`applying_dict` leaves it out of the saved configuration.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from energan.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def param(
    default: Any,
    help: str,
    *,
    choices: Sequence[Any] | None = None,
    low: float | None = None,
    high: float | None = None,
    below: float | None = None,
    applies: Mapping[str, Sequence[Any]] | None = None,
) -> Any:
    """A dataclass field with a help text and, optionally, valid choices or a range: inclusive
    ``low`` and ``high``, or an exclusive upper bound ``below`` (Adam's betas: 1 divides by zero).

    ``applies`` maps other fields to the values for which this parameter means something,
    e.g. ``{"body": ("conv", "timm")}``; by default a parameter applies to every choice.
    """
    metadata = {
        "help": help,
        "choices": tuple(choices) if choices else None,
        "low": low,
        "high": high,
        "below": below,
        "applies": {name: tuple(values) for name, values in applies.items()} if applies else None,
    }
    return dataclasses.field(default=default, metadata=metadata)


def closest(name: str, valid: Sequence[str]) -> str:
    """' (did you mean X?)' for the closest valid name, or ''."""
    match = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """Convert a TOML or command-line value to the field's declared type."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            return None
        kind = options[0]
        origin = typing.get_origin(kind)
    if origin in (tuple, list):
        items = value.split(",") if isinstance(value, str) else list(value)
        (item_kind, *_) = typing.get_args(kind) or (str,)
        converted = [_coerce(item.strip() if isinstance(item, str) else item, item_kind, where) for item in items]
        return tuple(converted) if origin is tuple else converted
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if kind in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = kind(value)
        except (TypeError, ValueError, OverflowError):  # int(inf) overflows
            raise ConfigError(f"{where}: expected {'an integer' if kind is int else 'a number'}, got {value!r}") from None
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return number
    if kind is str:
        return str(value)
    return value


def _check(value: Any, field: dataclasses.Field, where: str) -> None:
    meta = field.metadata
    if meta.get("choices") and value not in meta["choices"]:
        valid = ", ".join(map(str, meta["choices"]))
        raise ConfigError(f"{where}: {value!r} is not one of {valid}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = meta.get("low"), meta.get("high")
        if not math.isfinite(value):  # no rate, margin, weight or size means anything at inf or nan
            raise ConfigError(f"{where}: {value!r} is not a finite number")
        below = meta.get("below")
        if (low is not None and value < low) or (high is not None and value > high) or (below is not None and value >= below):
            upper = f"{below})" if below is not None else f"{'inf' if high is None else high}]"
            raise ConfigError(f"{where}: {value!r} is outside the valid range [{'-inf' if low is None else low}, {upper}")


def _applies(field: dataclasses.Field, chosen: Callable[[str], Any]) -> bool:
    """Whether ``field`` applies, given the value ``chosen(name)`` of each field it depends on."""
    applies = field.metadata.get("applies") or {}
    return all(chosen(name) in values for name, values in applies.items())


def _check_applies(params: Any, given: Mapping[str, Any], owner: str) -> None:
    """A value given for a parameter that does not apply to the chosen variant is an error."""
    chosen = partial(getattr, params)
    for field in dataclasses.fields(params):
        if field.name not in given or _applies(field, chosen):
            continue
        name, allowed = next((n, v) for n, v in field.metadata["applies"].items() if chosen(n) not in v)
        choice = f"{name} {chosen(name)}"
        raise ConfigError(
            f"{owner}: {field.name} applies to {name} {', '.join(map(str, allowed))} only, not to {choice} "
            f"(parameters of {choice}: {', '.join(applying_dict(params))})"
        )


def applying_dict(params: Any) -> dict[str, Any]:
    """The field values of a parameter instance that apply to its own choices (what a config saves)."""
    if params is None:
        return {}
    return {f.name: getattr(params, f.name) for f in dataclasses.fields(params) if _applies(f, partial(getattr, params))}


def check_declaration(cls: type) -> None:
    """Raise ValueError when an ``applies`` names a field that does not exist or a value it cannot take."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for field in fields.values():
        for name, values in (field.metadata.get("applies") or {}).items():
            if name not in fields:
                raise ValueError(f"parameter {field.name!r} applies to {name!r}, which is not a parameter")
            choices = fields[name].metadata.get("choices")
            unknown = [value for value in values if choices and value not in choices]
            if unknown:
                raise ValueError(f"parameter {field.name!r} applies to {name} {unknown[0]!r}, which is not one of its choices")


def build_params(cls: type | None, values: Mapping[str, Any], owner: str) -> Any:
    """Validate raw ``values`` against the parameter dataclass ``cls`` of component ``owner``."""
    if cls is None:
        if values:
            raise ConfigError(f"{owner} takes no parameters, got {', '.join(sorted(values))}")
        return None
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in values:
        if key not in fields:
            raise ConfigError(f"{owner} has no parameter {key!r}{closest(key, list(fields))}; valid: {', '.join(fields) or 'none'}")
    kwargs = {}
    for key, value in values.items():
        where = f"{owner}.{key}"
        kwargs[key] = _coerce(value, hints[key], where)
        _check(kwargs[key], fields[key], where)
    try:
        params = cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{owner}: {error}") from None
    _check_applies(params, kwargs, owner)
    return params


def params_dict(params: Any) -> dict[str, Any]:
    """The field values of a parameter instance (shallow), or {} for none."""
    if params is None:
        return {}
    return {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}


def describe_params(cls: type | None) -> list[dict[str, Any]]:
    """Name, type, default, help and constraints of each parameter, for listings."""
    if cls is None:
        return []
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        rows.append(
            {
                "name": f.name,
                "type": getattr(kind, "__name__", str(kind)).replace("typing.", ""),
                "default": f.default if f.default is not dataclasses.MISSING else None,
                "help": f.metadata.get("help", ""),
                "choices": list(f.metadata["choices"]) if f.metadata.get("choices") else None,
                "low": f.metadata.get("low"),
                "high": f.metadata.get("high"),
                "below": f.metadata.get("below"),
                "applies": {name: list(values) for name, values in (f.metadata.get("applies") or {}).items()} or None,
            }
        )
    return rows

"""scikit-learn's 8×8 handwritten digits, no download needed: the fast dataset of the tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class DigitsParams:
    size: int = param(8, "image side: 8 (native) or upsampled bilinearly", choices=(8, 16, 32, 64))


def build_digits(params: DigitsParams, data_dir: str | None) -> Any:
    """1 797 8×8 grey digits bundled with scikit-learn, in [-1, 1]; 20 % held out for tests."""
    from energan.data.digits import load_digits

    return load_digits(params.size)


@hookimpl
def register_datasets(register: Register) -> None:
    register("digits", build_digits, params=DigitsParams)

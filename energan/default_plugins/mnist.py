"""MNIST read from its IDX files in --data-dir (optionally downloaded with torchvision)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class MnistParams:
    pad: bool = param(False, "pad the 28×28 digits to 32×32 with the background")
    download: bool = param(False, "fetch the IDX files into --data-dir with torchvision first (needs a network)")


def build_mnist(params: MnistParams, data_dir: str | None) -> Any:
    """MNIST's 60 000 train and 10 000 test digits from the IDX files (raw or .gz) in --data-dir."""
    from energan.data.mnist import load_mnist

    return load_mnist(data_dir, params.pad, params.download)


@hookimpl
def register_datasets(register: Register) -> None:
    register("mnist", build_mnist, params=MnistParams)

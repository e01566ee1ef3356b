"""Generators: the paper's MNIST MLP and a DCGAN-style convolutional one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class MLPGeneratorParams:
    latent_dim: int = param(64, "dimension of z ~ N(0, I)", low=1)
    n_layers: int = param(3, "linear layers (paper's nLayerG)", low=2, high=8)
    size: int = param(512, "hidden width (paper's sizeG)", low=1)
    batch_norm: bool = param(True, "batch-norm on hidden layers")


def build_mlp(params: MLPGeneratorParams, shape: tuple[int, int, int]) -> Any:
    """Fully connected: BN + ReLU hidden layers, tanh output."""
    from energan.generators import mlp_generator

    return mlp_generator(shape, params.latent_dim, params.n_layers, params.size, params.batch_norm)


@dataclass(frozen=True)
class DCGANParams:
    latent_dim: int = param(64, "dimension of z ~ N(0, I)", low=1)
    width: int = param(32, "channels of the last stage (doubling towards 4×4)", low=1)
    batch_norm: bool = param(True, "batch-norm before each ReLU")


def build_dcgan(params: DCGANParams, shape: tuple[int, int, int]) -> Any:
    """DCGAN-style: linear to 4×4, stride-2 transposed convolutions, tanh output."""
    from energan.generators import dcgan_generator

    return dcgan_generator(shape, params.latent_dim, params.width, params.batch_norm)


@hookimpl
def register_generators(register: Register) -> None:
    register("mlp", build_mlp, params=MLPGeneratorParams)
    register("dcgan", build_dcgan, params=DCGANParams)

"""Energies: EBGAN's auto-encoder energy (MLP or conv body) and a logit ("mlp") discriminator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class AutoEncoderParams:
    body: str = param("mlp", "encoder/decoder body (timm: a timm backbone encoder, conv decoder)", choices=("mlp", "conv", "timm"))
    distance: str = param(
        "mse",
        "reconstruction error per sample: mse / l1 = mean over pixels of the squared / absolute error; "
        "l2 = the paper's Euclidean norm over all pixels, not squared (margins of the paper: 10 on MNIST)",
        choices=("mse", "l1", "l2"),
    )
    n_layers: int = param(3, "mlp: linear layers in the whole auto-encoder (paper's nLayerD)", low=2, high=8)
    size: int = param(128, "mlp: hidden and code width (paper's sizeD)", low=1)
    dropout: float = param(0.0, "mlp: dropout on the hidden layers and the code (paper's dropoutD)", low=0.0, high=0.9)
    batch_norm: bool = param(False, "batch-norm on hidden layers")
    width: int = param(32, "conv: channels of the first stage (doubling per stage)", low=1)
    code_dim: int = param(64, "conv, timm: width of the linear bottleneck (conv: 0 makes the last feature map the code)", low=0)
    stages: int = param(0, "conv: stride-2 encoder stages (0: down to 4×4; the paper's 64×64 EBGAN: 3)", low=0)
    timm_model: str = param("resnet18", "timm: any timm.create_model name that supports features_only (random init)")


def build_autoencoder(
    shape: tuple[int, int, int],
    body: str,
    distance: str,
    n_layers: int,
    size: int,
    dropout: float,
    batch_norm: bool,
    width: int,
    code_dim: int,
    stages: int,
    timm_model: str,
) -> Any:
    """D(x) = reconstruction error of an auto-encoder; exposes the encoder code."""
    from energan.energies import AutoEncoderEnergy, conv_autoencoder, mlp_autoencoder, timm_autoencoder

    if body == "mlp":
        encoder, decoder = mlp_autoencoder(shape, n_layers, size, dropout, batch_norm)
    elif body == "conv":
        encoder, decoder = conv_autoencoder(shape, width, code_dim, batch_norm, stages)
    elif code_dim == 0:
        from energan.errors import ConfigError

        raise ConfigError("autoencoder: code_dim 0 (the last feature map as the code) needs body=conv; body timm needs code_dim ≥ 1")
    else:
        encoder, decoder = timm_autoencoder(shape, timm_model, width, code_dim, batch_norm)
    return AutoEncoderEnergy(encoder, decoder, distance, code_dropout=dropout if body == "mlp" else 0.0)


@dataclass(frozen=True)
class LogitParams:
    n_layers: int = param(3, "linear layers", low=2, high=8)
    size: int = param(256, "hidden width", low=1)
    dropout: float = param(0.0, "dropout on hidden layers", low=0.0, high=0.9)


def build_logit(shape: tuple[int, int, int], n_layers: int, size: int, dropout: float) -> Any:
    """A fully connected discriminator whose energy is a logit; code = last hidden layer."""
    import math

    from torch import nn

    from energan.energies import LogitEnergy
    from energan.nets.mlp import mlp

    features = nn.Sequential(
        nn.Flatten(),
        mlp([math.prod(shape)] + [size] * (n_layers - 1), dropout=dropout, activation=nn.LeakyReLU),
        nn.LeakyReLU(),
    )
    return LogitEnergy(features, size, dropout)


@hookimpl
def register_energies(register: Register) -> None:
    register("autoencoder", build_autoencoder, params=AutoEncoderParams)
    register("mlp", build_logit, params=LogitParams)

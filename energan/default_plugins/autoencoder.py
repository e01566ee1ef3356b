"""Energies: EBGAN's auto-encoder energy (MLP, conv or timm body) and a fully connected logit
discriminator (``logit``, the logistic GAN's s)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param

MLP = {"body": ("mlp",)}
CONV = {"body": ("conv",)}
CONV_TIMM = {"body": ("conv", "timm")}
TIMM = {"body": ("timm",)}
SPECTRAL_NORM_HELP = (
    "spectral normalisation of every linear and conv layer: W / σ_max(W), σ_max by power iteration "
    "(Miyato et al. 2018; conv kernels as [out, in·k·k] matrices)"
)


@dataclass(frozen=True)
class AutoEncoderParams:
    body: str = param("mlp", "encoder/decoder body (timm: a timm backbone encoder, conv decoder)", choices=("mlp", "conv", "timm"))
    distance: str = param(
        "mse",
        "reconstruction error per sample: mse / l1 = mean over pixels of the squared / absolute error; "
        "l2 = the paper's Euclidean norm over all pixels, not squared (margins of the paper: 10 on MNIST)",
        choices=("mse", "l1", "l2"),
    )
    n_layers: int = param(3, "linear layers in the whole auto-encoder (paper's nLayerD)", low=2, high=8, applies=MLP)
    size: int = param(256, "hidden and code width (paper's sizeD)", low=1, applies=MLP)
    dropout: float = param(0.0, "dropout on the hidden layers and the code (paper's dropoutD)", low=0.0, high=0.9, applies=MLP)
    batch_norm: bool = param(False, "batch-norm on hidden layers")
    width: int = param(32, "channels of the first stage (doubling per stage); timm: of the conv decoder", low=1, applies=CONV_TIMM)
    code_dim: int = param(64, "width of the linear bottleneck (0, conv only: the last feature map is the code)", low=0, applies=CONV_TIMM)
    stages: int = param(0, "stride-2 encoder stages (0: down to 4×4, 7×7 for 28×28; the paper's 64×64 EBGAN: 3)", low=0, applies=CONV)
    timm_model: str = param("resnet18", "any timm.create_model name that supports features_only (random init)", applies=TIMM)
    spectral_norm: bool = param(False, SPECTRAL_NORM_HELP)


def _encoder_decoder(params: AutoEncoderParams, shape: tuple[int, int, int]) -> tuple[Any, Any]:
    """The encoder and the decoder of the chosen body."""
    from energan.energies import conv_autoencoder, mlp_autoencoder, timm_autoencoder
    from energan.errors import ConfigError

    if params.body == "mlp":
        return mlp_autoencoder(shape, params.n_layers, params.size, params.dropout, params.batch_norm)
    if params.body == "conv":
        return conv_autoencoder(shape, params.width, params.code_dim, params.batch_norm, params.stages)
    if params.code_dim == 0:
        raise ConfigError("autoencoder: code_dim 0 (the last feature map as the code) needs body=conv; body timm needs code_dim ≥ 1")
    return timm_autoencoder(shape, params.timm_model, params.width, params.code_dim, params.batch_norm)


def build_autoencoder(params: AutoEncoderParams, shape: tuple[int, int, int]) -> Any:
    """D(x) = reconstruction error of an auto-encoder; exposes the encoder code."""
    from energan.energies import AutoEncoderEnergy, spectral_normalized

    encoder, decoder = _encoder_decoder(params, shape)
    code_dropout = params.dropout if params.body == "mlp" else 0.0
    energy = AutoEncoderEnergy(encoder, decoder, params.distance, code_dropout=code_dropout)
    return spectral_normalized(energy) if params.spectral_norm else energy


@dataclass(frozen=True)
class LogitParams:
    n_layers: int = param(3, "linear layers", low=2, high=8)
    size: int = param(256, "hidden width", low=1)
    dropout: float = param(0.0, "dropout on hidden layers", low=0.0, high=0.9)
    spectral_norm: bool = param(False, SPECTRAL_NORM_HELP)


def build_logit(params: LogitParams, shape: tuple[int, int, int]) -> Any:
    """A fully connected discriminator whose energy is a logit; code = last hidden layer."""
    import math

    from torch import nn

    from energan.energies import LogitEnergy, spectral_normalized
    from energan.nets.mlp import mlp

    features = nn.Sequential(
        nn.Flatten(),
        mlp([math.prod(shape)] + [params.size] * (params.n_layers - 1), dropout=params.dropout, activation=nn.LeakyReLU),
        nn.LeakyReLU(),
    )
    energy = LogitEnergy(features, params.size, params.dropout)
    return spectral_normalized(energy) if params.spectral_norm else energy


@hookimpl
def register_energies(register: Register) -> None:
    register("autoencoder", build_autoencoder, params=AutoEncoderParams)
    register("logit", build_logit, params=LogitParams)

"""Built-in energies: EBGAN's auto-encoder energy and a classifier-style logit energy."""

from __future__ import annotations

import math

import torch
from einops import rearrange, reduce
from torch import Tensor, nn

from energan.components import Energy, EnergyOutput
from energan.errors import ConfigError
from energan.nets.conv import conv_decoder, conv_encoder
from energan.nets.mlp import mlp


def reconstruction_error(reconstruction: Tensor, x: Tensor, distance: str) -> Tensor:
    """Per-sample error [B]: ``mse`` and ``l1`` average over pixels; ``l2`` is the paper's
    ‖Dec(Enc(x)) − x‖, the Euclidean norm over all pixels (not squared, not averaged)."""
    difference = reconstruction - x
    if distance == "l2":
        return torch.linalg.vector_norm(rearrange(difference, "b ... -> b (...)"), dim=1)
    error = difference.square() if distance == "mse" else difference.abs()
    return reduce(error, "b ... -> b", "mean")


NORMALISED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def spectral_normalized(module: nn.Module) -> nn.Module:
    """``module`` with every linear and convolution layer spectrally normalised (Miyato et al. 2018):
    W / σ(W), σ estimated by one power iteration per training forward; a kernel is normalised as
    the matrix [out, in·k·k] ([in, out·k·k] for a transposed convolution)."""
    from torch.nn.utils.parametrizations import spectral_norm

    for layer in [m for m in module.modules() if isinstance(m, NORMALISED_LAYERS)]:  # listed first: it adds modules
        spectral_norm(layer)
    return module


class AutoEncoderEnergy(Energy):
    """D(x) = per-sample reconstruction error of Dec(Enc(x)); the code is Enc(x).

    ``code_dropout`` acts on the code only as the decoder reads it: the code handed to
    regularizers is the encoder's output itself.
    """

    energy_range = (0.0, math.inf)
    per_sample = True

    def __init__(self, encoder: nn.Module, decoder: nn.Module, distance: str, code_dropout: float = 0.0) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.distance = distance
        self.code_dropout = nn.Dropout(code_dropout) if code_dropout > 0 else nn.Identity()

    def forward(self, x: Tensor) -> EnergyOutput:
        code = rearrange(self.encoder(x), "b ... -> b (...)")
        reconstruction = self.decoder(self.code_dropout(code)).view_as(x)
        return EnergyOutput(energy=reconstruction_error(reconstruction, x, self.distance), code=code, reconstruction=reconstruction)


def mlp_autoencoder(shape: tuple[int, int, int], n_layers: int, size: int, dropout: float, batch_norm: bool) -> tuple[nn.Module, nn.Module]:
    """The paper's fully connected auto-encoder: ``n_layers`` linear layers in all, ``size`` wide.

    The encoder takes the first ceil(n/2) layers and ends in the code (``size`` units, ReLU);
    the decoder takes the other floor(n/2) back to the image, with a tanh output. ``dropout``
    acts on the hidden layers inside each; the energy applies it to the code as well
    (``AutoEncoderEnergy``'s ``code_dropout``), so a two-layer auto-encoder has dropout too.
    """
    pixels = math.prod(shape)
    encoder_layers = n_layers - n_layers // 2
    decoder_layers = n_layers // 2
    encoder = nn.Sequential(
        nn.Flatten(),
        mlp([pixels] + [size] * encoder_layers, batch_norm=batch_norm, dropout=dropout, final_activation=nn.ReLU()),
    )
    decoder = mlp([size] * decoder_layers + [pixels], batch_norm=batch_norm, dropout=dropout, final_activation=nn.Tanh())
    return encoder, decoder


def conv_autoencoder(
    shape: tuple[int, int, int], width: int, code_dim: int, batch_norm: bool, stages: int = 0
) -> tuple[nn.Module, nn.Module]:
    """A DCGAN-style convolutional auto-encoder: a linear bottleneck of ``code_dim``, or a spatial code (0)."""
    channels, side, _ = shape
    try:
        return (
            conv_encoder(channels, side, width, code_dim, batch_norm, stages),
            conv_decoder(code_dim, channels, side, width, batch_norm, stages),
        )
    except ValueError as error:
        raise ConfigError(f"autoencoder: {error}") from None


class TimmEncoder(nn.Module):
    """A timm backbone (``features_only``, random init) whose last feature map is flattened to the code.

    ``per_sample = False``: timm's layers are not all per-sample (EvoNorm-B0 takes batch statistics),
    so an energy holding one scores each batch in its own forward."""

    per_sample = False

    def __init__(self, backbone: nn.Module, feature_size: int, code_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.project = nn.Sequential(nn.Flatten(), nn.Linear(feature_size, code_dim), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        return self.project(self.backbone(x)[-1])


def timm_autoencoder(
    shape: tuple[int, int, int], model_name: str, width: int, code_dim: int, batch_norm: bool
) -> tuple[nn.Module, nn.Module]:
    """Encoder: any timm model with ``features_only`` (no pretrained weights); decoder: the conv one.
    Models built for one input size (ViT, Swin, ...) are built for the data's side instead."""
    import timm

    channels, side, _ = shape
    if not timm.is_model(model_name):
        raise ConfigError(f"unknown timm model {model_name!r}; any name from timm.list_models(), e.g. resnet18, efficientnet_b0")
    fixed_size = getattr(timm.models.get_pretrained_cfg(model_name), "fixed_input_size", False)
    size = {"img_size": side} if fixed_size else {}
    try:
        backbone = timm.create_model(model_name, pretrained=False, features_only=True, in_chans=channels, out_indices=(-1,), **size)
        with torch.no_grad():
            feature_size = backbone(torch.zeros(2, channels, side, side))[-1][0].numel()
    except Exception as error:  # timm raises assorted errors for models that cannot do this
        raise ConfigError(f"timm model {model_name!r} cannot encode {channels}×{side}×{side} images with features_only: {error}") from None
    return TimmEncoder(backbone, feature_size, code_dim), conv_decoder(code_dim, channels, side, width, batch_norm)


class LogitEnergy(Energy):
    """A classifier-style discriminator: s(x) = a logit of "fake"; the code is its last hidden layer,
    which the head reads through dropout (so every hidden layer has it, even with two layers)."""

    energy_range = (-math.inf, math.inf)
    per_sample = True

    def __init__(self, features: nn.Module, width: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.features = features
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(width, 1)

    def forward(self, x: Tensor) -> EnergyOutput:
        code = self.features(x)
        return EnergyOutput(energy=rearrange(self.head(self.dropout(code)), "b 1 -> b"), code=code)

"""Built-in generators: the paper's MNIST MLP and a DCGAN-style convolutional one."""

from __future__ import annotations

import math

from einops.layers.torch import Rearrange
from torch import Tensor, nn

from energan.nets.conv import conv_decoder
from energan.nets.mlp import mlp


class Generator(nn.Module):
    """Maps z [B, latent_dim] ~ N(0, I) to images [B, C, H, W] in [-1, 1]."""

    def __init__(self, latent_dim: int, body: nn.Module) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.body = body

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z)


def mlp_generator(shape: tuple[int, int, int], latent_dim: int, n_layers: int, size: int, batch_norm: bool) -> Generator:
    """``n_layers`` linear layers, ``size`` wide, BN + ReLU between them, tanh output."""
    channels, height, width = shape
    body = nn.Sequential(
        mlp([latent_dim] + [size] * (n_layers - 1) + [math.prod(shape)], batch_norm=batch_norm, final_activation=nn.Tanh()),
        Rearrange("b (c h w) -> b c h w", c=channels, h=height, w=width),
    )
    return Generator(latent_dim, body)


def dcgan_generator(shape: tuple[int, int, int], latent_dim: int, width: int, batch_norm: bool) -> Generator:
    """Linear to 4×4 features, then stride-2 transposed convolutions up to the image side."""
    channels, side, _ = shape
    return Generator(latent_dim, conv_decoder(latent_dim, channels, side, width, batch_norm))

"""DCGAN-style convolutional bodies for square images whose side is 4·2^k."""

from __future__ import annotations

import math

from einops.layers.torch import Rearrange
from torch import nn


def downsamplings(side: int) -> int:
    """How many stride-2 stages take ``side`` down to 4; the side must be 4·2^k with k ≥ 1."""
    stages = math.log2(side / 4) if side >= 8 else -1
    if stages < 1 or not stages.is_integer():
        raise ValueError(f"image side {side} is not supported by conv bodies; valid: 8, 16, 32, 64, 128, 256")
    return int(stages)


def conv_encoder(channels: int, side: int, width: int, code_dim: int, batch_norm: bool = True) -> nn.Sequential:
    """Stride-2 4×4 convolutions down to 4×4 (doubling width), then a linear code of ``code_dim``."""
    layers: list[nn.Module] = []
    width_in = channels
    for stage in range(downsamplings(side)):
        width_out = width * 2**stage
        layers.append(nn.Conv2d(width_in, width_out, 4, stride=2, padding=1, bias=not batch_norm or stage == 0))
        if batch_norm and stage > 0:
            layers.append(nn.BatchNorm2d(width_out))
        layers.append(nn.LeakyReLU(0.2))
        width_in = width_out
    layers += [Rearrange("b c h w -> b (c h w)"), nn.Linear(width_in * 16, code_dim)]
    return nn.Sequential(*layers)


def conv_decoder(code_dim: int, channels: int, side: int, width: int, batch_norm: bool = True) -> nn.Sequential:
    """A linear map to 4×4 features, then stride-2 transposed convolutions up to ``side``, tanh."""
    stages = downsamplings(side)
    width_in = width * 2 ** (stages - 1)
    layers: list[nn.Module] = [
        nn.Linear(code_dim, width_in * 16),
        Rearrange("b (c h w) -> b c h w", h=4, w=4),
    ]
    for stage in reversed(range(stages)):
        if batch_norm:
            layers.append(nn.BatchNorm2d(width_in))
        layers.append(nn.ReLU())
        width_out = channels if stage == 0 else width * 2 ** (stage - 1)
        layers.append(nn.ConvTranspose2d(width_in, width_out, 4, stride=2, padding=1))
        width_in = width_out
    layers.append(nn.Tanh())
    return nn.Sequential(*layers)

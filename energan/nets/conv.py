"""DCGAN-style convolutional bodies for square images whose side is b·2^k, b from 4 to 7 (32, 64, MNIST's 28)."""

from __future__ import annotations

from einops.layers.torch import Rearrange
from torch import nn

from energan.errors import ConfigError


def downsamplings(side: int) -> int:
    """How many stride-2 stages take ``side`` down to its base b, 4 ≤ b ≤ 7 (28 → 14 → 7: 2); at least one."""
    stages = 0
    while side % 2 == 0 and side // 2 >= 4:
        side, stages = side // 2, stages + 1
    if stages < 1 or side > 7:
        raise ConfigError(
            f"image side {side << stages} is not supported by conv bodies (stride-2 stages down to a side from 4 to 7); "
            "valid: b·2^k with b from 4 to 7 and k ≥ 1, e.g. 8, 16, 28, 32, 64, 128, 256; use the mlp body, or other data"
        )
    return stages


def stage_count(side: int, stages: int) -> int:
    """``stages`` stride-2 stages (0: all the way down to a side from 4 to 7, e.g. 4×4 or 7×7), checked against the image side."""
    most = downsamplings(side)
    if not 0 <= stages <= most:
        raise ConfigError(
            f"{stages} stride-2 stages do not fit a {side}×{side} image; valid: 1 to {most} (0: down to {side >> most}×{side >> most})"
        )
    return stages or most


def conv_encoder(channels: int, side: int, width: int, code_dim: int, batch_norm: bool = True, stages: int = 0) -> nn.Sequential:
    """Stride-2 4×4 convolutions (doubling width), then a linear code of ``code_dim``.

    ``code_dim = 0``: no linear bottleneck; the code is the last feature map (the paper's 64×64
    EBGAN encoder, e.g. 3 stages to 8×8×256).
    """
    layers: list[nn.Module] = []
    width_in = channels
    stages = stage_count(side, stages)
    for stage in range(stages):
        width_out = width * 2**stage
        layers.append(nn.Conv2d(width_in, width_out, 4, stride=2, padding=1, bias=not batch_norm or stage == 0))
        if batch_norm and stage > 0:
            layers.append(nn.BatchNorm2d(width_out))
        layers.append(nn.LeakyReLU(0.2))
        width_in = width_out
    layers.append(Rearrange("b c h w -> b (c h w)"))
    if code_dim:
        layers.append(nn.Linear(width_in * (side >> stages) ** 2, code_dim))
    return nn.Sequential(*layers)


def conv_decoder(code_dim: int, channels: int, side: int, width: int, batch_norm: bool = True, stages: int = 0) -> nn.Sequential:
    """A linear map to the first feature map, then stride-2 transposed convolutions up to ``side``, tanh.

    ``code_dim = 0``: the input already is the flattened feature map of a spatial code.
    """
    stages = stage_count(side, stages)
    width_in, start = width * 2 ** (stages - 1), side >> stages
    unflatten = Rearrange("b (c h w) -> b c h w", c=width_in, h=start, w=start)
    # a bias in front of batch-norm is cancelled by it: the layers that feed one have none
    layers: list[nn.Module] = [nn.Linear(code_dim, width_in * start**2, bias=not batch_norm), unflatten] if code_dim else [unflatten]
    for stage in reversed(range(stages)):
        if batch_norm:
            layers.append(nn.BatchNorm2d(width_in))
        layers.append(nn.ReLU())
        width_out = channels if stage == 0 else width * 2 ** (stage - 1)
        layers.append(nn.ConvTranspose2d(width_in, width_out, 4, stride=2, padding=1, bias=not batch_norm or stage == 0))
        width_in = width_out
    layers.append(nn.Tanh())
    return nn.Sequential(*layers)

"""The 2-D Gaussian mixtures of the mode-collapse literature, as [N, 2, 1, 1] "images" in [-1, 1].

``ring8``: 8 modes evenly spaced on a circle of radius 2, std 0.02; ``grid25``: 25 modes on the
grid {−4, −2, 0, 2, 4}², std 0.05. Both are divided by ``SCALE`` so every sample lies in [-1, 1],
the range of the generators' tanh output.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import Tensor

from energan.data import ImageData

SCALE = {"ring8": 2.5, "grid25": 5.0}
PAPER_STD = {"ring8": 0.02, "grid25": 0.05}


def mixture_modes(name: str) -> Tensor:
    """The modes in the literature's units ([8, 2] or [25, 2])."""
    if name == "ring8":
        angles = torch.arange(8, dtype=torch.float32) * (2 * math.pi / 8)
        return 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)
    if name == "grid25":
        axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
        return torch.cartesian_prod(axis, axis)
    raise ValueError(f"unknown mixture {name!r}; valid: {', '.join(SCALE)}")


def load_mixture(name: str, points: int, std: float, seed: int) -> ImageData:
    """``points`` samples (fixed by ``seed``) from equal-weight Gaussians of ``std`` at the modes."""
    generator = torch.Generator().manual_seed(seed)
    modes = mixture_modes(name)
    which = torch.randint(len(modes), (points,), generator=generator)
    samples = modes[which] + std * torch.randn(points, 2, generator=generator)
    scale = SCALE[name]
    return ImageData(
        key=f"{name}-{points}-{std}-{seed}",
        train_images=rearrange(samples / scale, "n d -> n d 1 1"),
        train_labels=which,
        num_classes=len(modes),
        modes=modes / scale,
        mode_std=std / scale,
    )

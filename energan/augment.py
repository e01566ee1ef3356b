"""Differentiable augmentation of everything the energy sees (DiffAugment, Zhao et al. 2020).

Real and generated images go through the same random transformation before the energy, in the
energy's steps and in the generator's, and the generator's gradient flows back through it. On a
small training set (mnist5k's 4 000 digits) this keeps the energy from memorising the training
images, which would otherwise give unseen real digits the energy of fakes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import repeat
from torch import Tensor

from energan.distributed import World
from energan.errors import ConfigError

Augmentation = Callable[[Tensor], Tensor]


def translate(images: Tensor, shifts: Tensor, reach: int) -> Tensor:
    """Each image [B, C, H, W] moved by its own integer (dy, dx) from ``shifts`` [B, 2], |shift| ≤ reach;
    the border pixels fill what moves in (the background, for digits). Differentiable in ``images``."""
    _, channels, height, width = images.shape
    padded = F.pad(images, (reach, reach, reach, reach), mode="replicate")
    rows = torch.arange(height, device=images.device) + reach - shifts[:, :1]  # output row y reads row y − dy
    moved = padded.gather(2, repeat(rows, "b h -> b c h w", c=channels, w=width + 2 * reach))
    columns = torch.arange(width, device=images.device) + reach - shifts[:, 1:]
    return moved.gather(3, repeat(columns, "b w -> b c h w", c=channels, h=height))


class Translation:
    """Random translations of up to ``reach`` pixels along each axis, drawn for every image of the
    global batch from ``rng`` (so each process of a multi-process run takes its own rows' shifts)."""

    def __init__(self, reach: int, rng: torch.Generator, world: World) -> None:
        self.reach, self.rng, self.world = reach, rng, world

    def __call__(self, images: Tensor) -> Tensor:
        size = images.shape[0] * self.world.size
        shifts = torch.randint(-self.reach, self.reach + 1, (size, 2), generator=self.rng, device=self.rng.device)
        return translate(images, self.world.shard(shifts).to(images.device), self.reach)


def translation_reach(side: int, share: float) -> int:
    """The largest shift in pixels: ``share`` of the image side, rounded half up (1/16 of 28: 2)."""
    return int(side * share + 0.5)


def concrete_augment(name: str, share: float, side: int) -> str:
    """``auto`` made concrete: translation where the largest shift is at least a pixel (images), none
    where it is not (a mixture's 2-D points are 1×1 "images")."""
    if name != "auto":
        return name
    return "translation" if translation_reach(side, share) else "none"


def unchanged(images: Tensor) -> Tensor:
    """No augmentation."""
    return images


def augmentation(name: str, share: float, shape: tuple[int, ...], rng: torch.Generator, world: World) -> Augmentation:
    """The augmentation ``name`` (translation or none; see :func:`concrete_augment`) for images of ``shape`` [C, H, W]."""
    if name == "none" or share == 0:
        return unchanged
    reach = translation_reach(shape[1], share)
    if not reach:
        raise ConfigError(
            f"augment_shift {share} of a {shape[1]}-pixel side is 0 pixels: nothing to translate "
            f"(data of shape {tuple(shape)}); raise augment_shift or use augment = 'none'"
        )
    return Translation(reach, rng, world)

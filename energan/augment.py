"""Differentiable augmentation of everything the energy sees (DiffAugment, Zhao et al. 2020).

Real and generated images go through the same random transformation before the energy, in the
energy's steps and in the generator's, and the generator's gradient flows back through it. On a
small training set (mnist5k's 4 000 digits) this keeps the energy from memorising the training
images, which would otherwise give unseen real digits the energy of fakes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from einops import rearrange
from torch import Tensor

from energan.distributed import World
from energan.errors import ConfigError

Augmentation = Callable[[Tensor], Tensor]


def translate(images: Tensor, shifts: Tensor) -> Tensor:
    """Each image [B, C, H, W] moved by its own integer (dy, dx) from ``shifts`` [B, 2]; the border
    pixels fill what moves in (the background, for digits). Differentiable in ``images``.

    Output pixel (y, x) reads pixel (clamp(y − dy), clamp(x − dx)): one gather over the flattened
    pixels, the same as shifting a replicate-padded image and cropping it.
    """
    _, channels, height, width = images.shape
    rows = (torch.arange(height, device=images.device) - shifts[:, :1]).clamp(0, height - 1)
    columns = (torch.arange(width, device=images.device) - shifts[:, 1:]).clamp(0, width - 1)
    sources = rearrange(rows[:, :, None] * width + columns[:, None, :], "b h w -> b 1 (h w)")
    moved = rearrange(images, "b c h w -> b c (h w)").gather(2, sources.expand(-1, channels, -1))
    return rearrange(moved, "b c (h w) -> b c h w", h=height)


class Translation:
    """Random translations of up to ``reach`` pixels along each axis, drawn for every image of the
    global batch from ``rng`` (so each process of a multi-process run takes its own rows' shifts)."""

    def __init__(self, reach: int, rng: torch.Generator, world: World) -> None:
        self.reach, self.rng, self.world = reach, rng, world

    def __call__(self, images: Tensor) -> Tensor:
        size = images.shape[0] * self.world.size
        shifts = torch.randint(-self.reach, self.reach + 1, (size, 2), generator=self.rng, device=self.rng.device)
        return translate(images, self.world.shard(shifts).to(images.device))


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

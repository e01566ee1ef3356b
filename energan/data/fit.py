"""Images brought to a run's [C, H, W]: resized, and grey made colour or colour grey as PIL does."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor

from energan.errors import DataError

LUMA = (19595, 38470, 7471)  # PIL's RGB → L weights (ITU-R 601-2) in 65536ths: files and tensors turn grey alike


def fitted(images: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Float ``images`` [N, C, H, W] in [-1, 1] brought to ``shape`` (C, H, W): resized bilinearly
    with antialiasing, then their channels converted (:func:`convert_channels`)."""
    channels, height, width = shape
    if tuple(images.shape[2:]) != (height, width):
        images = F.interpolate(images, size=(height, width), mode="bilinear", antialias=True, align_corners=False).clamp_(-1, 1)
    have = images.shape[1]
    if have != channels and {have, channels} != {1, 3}:
        raise DataError(f"images of {have} channels cannot be brought to {channels}; valid: the same count, or 1 ↔ 3")
    return convert_channels(images, channels)


def convert_channels(images: Tensor, channels: int) -> Tensor:
    """[N, C, H, W] images with ``channels`` channels: grey repeated into RGB, or RGB made grey by
    PIL's luma (its ``convert("L")``, rounded as PIL rounds, for uint8 pixels)."""
    if images.shape[1] == channels:
        return images
    if channels == 3:
        return repeat(images, "n 1 h w -> n 3 h w")
    if images.dtype == torch.uint8:
        weights = rearrange(torch.tensor(LUMA, dtype=torch.int32), "c -> c 1 1")
        return ((images.int() * weights).sum(1, keepdim=True) + 2**15).div(2**16, rounding_mode="floor").to(torch.uint8)
    weights = rearrange(torch.tensor(LUMA, dtype=images.dtype) / 2**16, "c -> c 1 1")
    return (images * weights).sum(1, keepdim=True)

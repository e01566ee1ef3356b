"""Observer: a grid of samples from a fixed z at every evaluation, ``<run>/samples/step-N.png``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from energan.hookspecs import hookimpl

GRID = 64
MIN_SIDE = 32  # tiny images (8×8 digits) are enlarged, pixel for pixel, to stay readable


def save_grid(images: Any, path: Path) -> None:
    """Save images in [-1, 1] as an 8-wide grid PNG, enlarging tiny images by nearest neighbour."""
    import torch.nn.functional as F
    from torchvision.utils import save_image

    side = images.shape[-1]
    if side < MIN_SIDE:
        images = F.interpolate(images, scale_factor=MIN_SIDE // side, mode="nearest")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images, path, nrow=8, normalize=True, value_range=(-1, 1), padding=2)


@hookimpl
def on_evaluate(run: Any, step: int, metrics: dict[str, float]) -> None:
    save_grid(run.sample(GRID), run.directory / "samples" / f"step-{step:07d}.png")

"""Pictures of samples: an image grid (PNG) and, for 2-D point data, a scatter over the data.
Torchvision and matplotlib are imported only when a picture is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from energan.atomic import write_atomic

GRID = 64  # images in a sample grid
POINTS = 2500  # points in a scatter (generated, and training points under them)
MIN_SIDE = 32  # tiny images (8×8 digits) are enlarged, pixel for pixel, to stay readable


def save_grid(images: Any, path: Path, columns: int = 8) -> None:
    """Save images in [-1, 1] as a grid PNG (``columns`` wide), enlarging tiny images by nearest neighbour."""
    import torch.nn.functional as F
    from torchvision.utils import save_image

    side = images.shape[-1]
    if side < MIN_SIDE:
        images = F.interpolate(images, scale_factor=MIN_SIDE // side, mode="nearest")
    write_atomic(
        path, lambda stream: save_image(images, stream, format="png", nrow=columns, normalize=True, value_range=(-1, 1), padding=2)
    )


def save_scatter(samples: Any, data: Any, path: Path) -> None:
    """Scatter 2-D samples (red) over the training points (grey) and the modes (black crosses)."""
    from matplotlib.figure import Figure  # a bare Figure needs no pyplot and no global backend

    figure = Figure(figsize=(5, 5), layout="constrained")
    axis = figure.subplots()
    real = data.train_images.flatten(1)[:POINTS]
    axis.scatter(real[:, 0], real[:, 1], s=2, color="lightgrey", label="data")
    fake = samples.flatten(1)
    axis.scatter(fake[:, 0], fake[:, 1], s=2, color="tab:red", alpha=0.5, label="generated")
    if data.modes is not None:
        axis.scatter(data.modes[:, 0], data.modes[:, 1], marker="x", color="black", label="modes")
    axis.set(xlim=(-1.05, 1.05), ylim=(-1.05, 1.05), aspect="equal")
    axis.legend(loc="upper right", fontsize=7)
    write_atomic(path, lambda stream: figure.savefig(stream, dpi=100, format="png"))


def is_point_data(shape: tuple[int, int, int]) -> bool:
    return shape == (2, 1, 1)


def draw_samples(run: Any, path: Path) -> None:
    """A run's samples from its fixed z: a grid of images, or for 2-D point data a scatter."""
    if is_point_data(run.data.shape):
        save_scatter(run.sample(POINTS), run.data.load(), path)
    else:
        save_grid(run.sample(GRID), path)

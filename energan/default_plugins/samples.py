"""Observer: samples from a fixed z at every evaluation, ``<run>/samples/step-N.png``.

Images become an 8-wide grid; 2-D point data (shape [2, 1, 1], e.g. ring8, grid25) becomes a
scatter plot over the data, with the modes marked where the dataset declares them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from energan.hookspecs import hookimpl

GRID = 64
POINTS = 2500
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


def save_scatter(samples: Any, data: Any, path: Path) -> None:
    """Scatter 2-D samples (red) over the training points (grey) and the modes (black crosses)."""
    from matplotlib.figure import Figure  # a bare Figure needs no pyplot and no global backend

    from energan.atomic import write_atomic

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


@hookimpl
def on_evaluate(run: Any, step: int, metrics: dict[str, float]) -> None:
    path = run.directory / "samples" / f"step-{step:07d}.png"
    if is_point_data(run.data.shape):
        save_scatter(run.sample(POINTS), run.data, path)
    else:
        save_grid(run.sample(GRID), path)

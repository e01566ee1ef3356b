"""Regular evaluation grids over the region where the densities live, and integrals on them."""

from __future__ import annotations

import dataclasses

import torch
from einops import rearrange
from torch import Tensor

from energan.lab.densities import Density


@dataclasses.dataclass(frozen=True)
class Grid:
    """Points of a regular 1-D or 2-D grid (ends included); ``integrate`` is a Riemann sum on it."""

    axes: tuple[Tensor, ...]
    points: Tensor  # [G, dim]
    cell: float  # volume of one cell

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(axis) for axis in self.axes)

    def integrate(self, values: Tensor) -> Tensor:
        """∫ values dx for values given at ``points`` (NaN-free by the caller)."""
        return values.sum() * self.cell

    def as_image(self, values: Tensor) -> Tensor:
        """Values at ``points`` reshaped to the grid (2-D: [len(y), len(x)] for imshow)."""
        return values.reshape(self.shape).T if len(self.axes) == 2 else values


def grid_around(densities: list[Density], resolution: int, pad: Tensor | None = None) -> Grid:
    """A grid covering every density's bounding box (widened by ``pad`` [dim] on both sides)."""
    lows, highs = zip(*(density.bounds() for density in densities), strict=False)
    low, high = torch.stack(lows).amin(0), torch.stack(highs).amax(0)
    if pad is not None:
        low, high = low - pad, high + pad
    axes = tuple(torch.linspace(float(a), float(b), resolution, dtype=torch.float64) for a, b in zip(low, high, strict=False))
    if len(axes) == 1:
        points = rearrange(axes[0], "g -> g 1")
    else:
        points = rearrange(torch.stack(torch.meshgrid(*axes, indexing="ij")), "d x y -> (x y) d")
    cell = float(torch.prod(torch.stack([axis[1] - axis[0] for axis in axes])))
    return Grid(axes, points, cell)

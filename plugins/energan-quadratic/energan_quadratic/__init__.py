"""energan-quadratic: a separately installable energan plugin (the third-party path, end to end).

Registers the energy ``quadratic``: s(x) = ½ ‖Lᵀ(x − μ)‖², a Gaussian's negative log-density
up to a constant, with learned mean μ and a low-rank factor L (rank ``rank``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from energan import hookimpl
from energan.params import param

__version__ = "0.1.0"


@dataclass(frozen=True)
class QuadraticParams:
    rank: int = param(16, "rank of the precision factor L", low=1)


def build_quadratic(params: QuadraticParams, shape: tuple[int, int, int]):
    """s(x) = ½ ‖Lᵀ(x − μ)‖² with learned μ and L."""
    import torch
    from torch import nn

    class QuadraticEnergy(nn.Module):
        energy_range = (0.0, math.inf)  # a squared norm: bounded below, as the margin loss needs

        def __init__(self) -> None:
            super().__init__()
            dim = math.prod(shape)
            self.mean = nn.Parameter(torch.zeros(dim))
            self.factor = nn.Parameter(torch.randn(dim, params.rank) / math.sqrt(dim))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            centred = x.flatten(1) - self.mean
            return 0.5 * (centred @ self.factor).square().sum(dim=1)

    return QuadraticEnergy()


@hookimpl
def register_energies(register) -> None:
    register("quadratic", build_quadratic, params=QuadraticParams)

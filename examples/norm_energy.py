"""A complete third-party energy plugin in one file.

    energan -p examples/norm_energy.py train --energy norm --loss margin --steps 2000

The energy is s(x) = ½‖f(x)‖² for a small MLP f: non-negative, zero only where f vanishes.
Its forward returns a plain [B] tensor, so energan wraps it (it exposes no code, and the
pull-away term will say so if you ask for it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from energan import hookimpl
from energan.params import param


@dataclass(frozen=True)
class NormEnergyParams:
    width: int = param(128, "hidden width of f", low=1)
    features: int = param(32, "output width of f", low=1)


def build_norm_energy(params: NormEnergyParams, shape: tuple[int, int, int]):
    """s(x) = ½‖f(x)‖² with f a two-layer MLP."""
    from torch import nn

    class NormEnergy(nn.Module):
        energy_range = (0.0, math.inf)  # a squared norm: the margin loss may use it

        def __init__(self) -> None:
            super().__init__()
            self.f = nn.Sequential(
                nn.Flatten(),
                nn.Linear(math.prod(shape), params.width),
                nn.LeakyReLU(0.2),
                nn.Linear(params.width, params.features),
            )

        def forward(self, x):
            return 0.5 * self.f(x).square().sum(dim=1)

    return NormEnergy()


@hookimpl
def register_energies(register) -> None:
    register("norm", build_norm_energy, params=NormEnergyParams)

"""The outer loop: the generator's objective E_Q f(s*) along a shift family Q_θ = P(· − θ·e₁).

For every θ the inner loop is solved exactly (closed form where the loss has one, else
pointwise numerically), so the curve is the divergence the loss/f pair really makes the
generator minimise. The classical divergences of Q_θ from P are computed on the same grid.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from torch import Tensor

from energan.components import SeparableLoss
from energan.lab.densities import Density
from energan.lab.grid import Grid
from energan.lab.pointwise import optimal_discrepancy_numeric, relative_densities

GRADIENT_STEP = 0.01  # central-difference step for the generator's gradient, × the θ spacing


@dataclasses.dataclass(frozen=True)
class Curve:
    """One function of θ: a generator objective ("objective") or a divergence ("divergence").

    For objectives, ``gradients`` holds what the generator's update really follows: ∂/∂θ of
    E_{Q_θ} f(s) with the discriminator held at its optimum s*_θ (not the slope of the curve,
    which would also differentiate through s*).
    """

    name: str
    kind: Literal["objective", "divergence"]
    thetas: Tensor
    values: Tensor
    gradients: Tensor | None = None

    @property
    def argmin(self) -> float:
        return float(self.thetas[self.values.nan_to_num(nan=float("inf")).argmin()])

    def gradient_at_edge(self) -> float:
        """|gradient| at the largest θ (near zero: it vanishes when Q is far from P).

        The generator's gradient for objectives, the curve's own slope for divergences.
        """
        if self.gradients is not None:
            return float(self.gradients[-1].abs())
        return float(((self.values[-1] - self.values[-2]) / (self.thetas[-1] - self.thetas[-2])).abs())


def _objective_name(generator: str) -> str:
    return "E_Q f(s*)" if generator == "f" else f"E_Q f(s*) [{generator}]"


def solve_inner(loss: SeparableLoss, log_p: Tensor, log_q: Tensor) -> Tensor:
    """s* on the grid: the loss's closed form if it has one, else the numerical pointwise optimum."""
    p, q = relative_densities(log_p, log_q)
    closed = loss.optimal_discrepancy(p, q)
    return closed if closed is not None else optimal_discrepancy_numeric(loss, p, q)


def _expect(grid: Grid, density: Tensor, values: Tensor) -> Tensor:
    """∫ density·values, with 0·(anything) = 0 where the density vanishes."""
    return grid.integrate(torch.where(density > 0, density * values, torch.zeros_like(values)))


def divergences(grid: Grid, log_p: Tensor, log_q: Tensor) -> dict[str, Tensor]:
    """KL(Q‖P), JS(P, Q), Rényi-2 D₂(Q‖P) = log ∫ q²/p and total variation, on the grid."""
    p, q = log_p.exp(), log_q.exp()
    log_m = torch.logaddexp(log_p, log_q) - torch.log(torch.tensor(2.0, dtype=p.dtype))
    return {
        "KL(Q||P)": _expect(grid, q, log_q - log_p),
        "JS(P,Q)": 0.5 * _expect(grid, q, log_q - log_m) + 0.5 * _expect(grid, p, log_p - log_m),
        "Renyi-2(Q||P)": torch.log(_expect(grid, q, (log_q - log_p).exp())),
        "TV(P,Q)": 0.5 * grid.integrate((p - q).abs()),
    }


def outer_curves(loss: SeparableLoss, p: Density, grid: Grid, thetas: Tensor) -> list[Curve]:
    """E_{Q_θ} f(s*_θ) and the generator's gradient for every f the loss offers, and the divergences."""
    direction = torch.zeros(p.dim, dtype=torch.float64)
    direction[0] = 1.0
    step = GRADIENT_STEP * float(thetas.diff().abs().min()) if len(thetas) > 1 else GRADIENT_STEP
    log_p = p.log_prob(grid.points)
    penalties = loss.generator_penalties()
    objectives: dict[str, list[Tensor]] = {name: [] for name in penalties}
    gradients: dict[str, list[Tensor]] = {name: [] for name in penalties}
    reference: dict[str, list[Tensor]] = {}
    for theta in thetas:
        log_q = p.shifted(theta * direction).log_prob(grid.points)
        q = log_q.exp()
        q_ahead = p.shifted((theta + step) * direction).prob(grid.points)
        q_behind = p.shifted((theta - step) * direction).prob(grid.points)
        s_star = solve_inner(loss, log_p, log_q)
        for name, f in penalties.items():
            values = f(s_star)
            objectives[name].append(_expect(grid, q, values))
            gradients[name].append((_expect(grid, q_ahead, values) - _expect(grid, q_behind, values)) / (2 * step))
        for name, value in divergences(grid, log_p, log_q).items():
            reference.setdefault(name, []).append(value)
    curves = [
        Curve(_objective_name(name), "objective", thetas, torch.stack(objectives[name]), torch.stack(gradients[name])) for name in penalties
    ]
    return curves + [Curve(name, "divergence", thetas, torch.stack(values)) for name, values in reference.items()]

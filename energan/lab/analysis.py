"""One lab experiment: the optimal discrepancy of a separable loss for known P and Q, three ways."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from energan.components import Loss, SeparableLoss
from energan.errors import ConfigError
from energan.lab.densities import Density
from energan.lab.grid import Grid, grid_around
from energan.lab.learned import learn_discrepancy
from energan.lab.outer import Curve, outer_curves
from energan.lab.pointwise import optimal_discrepancy_numeric, relative_densities

AWAY_FROM_EQUAL = 0.1  # errors are measured where |log q/p| ≥ this (the optimum jumps at q = p)
POINTWISE_FLOOR = 1e-3  # ... and where p and q are both ≥ this fraction of their maximum
LEARNED_FLOOR = 5e-2  # the learned estimate only sees samples: a stricter floor
DEFAULT_RESOLUTION = {1: 801, 2: 161}  # grid points per axis


@dataclasses.dataclass(frozen=True)
class Estimate:
    """An estimate of s* on the grid and its max |error| against the closed form (if one exists)."""

    name: str
    values: Tensor
    max_abs_error: float | None
    points_compared: int


@dataclasses.dataclass(frozen=True)
class LabResult:
    """Everything one experiment computed: densities and s* on the grid, estimates, outer-loop curves."""

    loss_name: str
    p: Density
    q: Density
    grid: Grid
    log_p: Tensor
    log_q: Tensor
    closed_form: Tensor | None
    estimates: list[Estimate]
    curves: list[Curve]


def as_separable(loss: Loss, name: str) -> SeparableLoss:
    """``loss`` if it is separable, else a one-line error saying why the lab cannot use it."""
    if not isinstance(loss, SeparableLoss):
        raise ConfigError(
            f"loss {name!r} is not separable: the lab needs pointwise penalties ℓ_real, ℓ_fake and f "
            f"(a SeparableLoss), and {type(loss).__name__} only defines batch objectives"
        )
    return loss


def comparison_region(log_p: Tensor, log_q: Tensor, floor: float) -> Tensor:
    """Where both densities are ≥ ``floor`` × their maximum and |log q/p| ≥ AWAY_FROM_EQUAL."""
    log_floor = math.log(floor)
    dense = (log_p >= log_p.max() + log_floor) & (log_q >= log_q.max() + log_floor)
    return dense & ((log_q - log_p).abs() >= AWAY_FROM_EQUAL)


def _error(estimate: Tensor, closed: Tensor | None, region: Tensor) -> tuple[float | None, int]:
    if closed is None or not bool(region.any()):
        return None, int(region.sum())
    return float((estimate - closed)[region].abs().max()), int(region.sum())


def analyse(
    loss: Loss,
    loss_name: str,
    p: Density,
    q: Density,
    resolution: int | None = None,
    learn_steps: int = 3000,
    theta_max: float = 4.0,
    theta_count: int = 81,
    seed: int = 0,
    on_learn_step: Callable[[int], None] | None = None,
) -> LabResult:
    """Closed form, pointwise-numeric and learned s*, plus the outer-loop curves.

    ``resolution`` is grid points per axis (default 801 in 1-D, 161 in 2-D); ``learn_steps=0``
    skips the learned estimate; the outer loop scans θ in [−theta_max, theta_max].
    """
    separable = as_separable(loss, loss_name)
    if p.dim != q.dim:
        raise ConfigError(f"P is {p.dim}-D but Q is {q.dim}-D; give both in the same dimension")
    if p.dim not in (1, 2):
        raise ConfigError(f"the lab works in 1-D or 2-D, got {p.dim}-D densities")
    resolution = resolution or DEFAULT_RESOLUTION[p.dim]
    grid = grid_around([p, q], resolution)
    log_p, log_q = p.log_prob(grid.points), q.log_prob(grid.points)
    relative_p, relative_q = relative_densities(log_p, log_q)
    closed = separable.optimal_discrepancy(relative_p, relative_q)
    estimates: list[Estimate] = []
    numeric = optimal_discrepancy_numeric(separable, relative_p, relative_q)
    pointwise_region = comparison_region(log_p, log_q, POINTWISE_FLOOR)
    estimates.append(Estimate("pointwise", numeric, *_error(numeric, closed, pointwise_region)))
    if learn_steps > 0:
        model = learn_discrepancy(separable, p, q, steps=learn_steps, seed=seed, on_step=on_learn_step)
        with torch.no_grad():
            learned = model(grid.points)
        learned_region = comparison_region(log_p, log_q, LEARNED_FLOOR)
        estimates.append(Estimate("learned", learned, *_error(learned, closed, learned_region)))
    half = max(1, theta_count // 2)
    thetas = torch.arange(-half, half + 1, dtype=torch.float64) * (theta_max / half)  # θ = 0 exactly: Q = P
    pad = torch.zeros(p.dim, dtype=torch.float64)
    pad[0] = 2 * theta_max  # E_Q q/p-type integrands of a θ-shift peak near 2θ
    outer_grid = grid_around([p], resolution, pad=pad)
    curves = outer_curves(separable, p, outer_grid, thetas)
    return LabResult(loss_name, p, q, grid, log_p, log_q, closed, estimates, curves)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def summary(result: LabResult) -> dict[str, Any]:
    """A JSON-ready digest (non-finite numbers become None): errors per estimate; per curve its
    argmin, minimum and |gradient| at the largest θ (the generator's, for objectives).
    """
    return {
        "loss": result.loss_name,
        "p": str(result.p),
        "q": str(result.q),
        "closed_form": result.closed_form is not None,
        "estimates": {e.name: {"max_abs_error": e.max_abs_error, "points_compared": e.points_compared} for e in result.estimates},
        "outer": {
            curve.name: {
                "kind": curve.kind,
                "argmin_theta": curve.argmin,
                "min": _finite_or_none(float(curve.values.nan_to_num(nan=math.inf).min())),
                "gradient_at_edge": _finite_or_none(curve.gradient_at_edge()),
            }
            for curve in result.curves
        },
    }

"""The WGAN-GP two-sided gradient penalty on interpolates (energy side)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class GradientPenaltyParams:
    weight: float = param(10.0, "λ in λ·E[(‖∇ s(x̂)‖ − 1)²], x̂ = εx + (1 − ε)G(z), ε ~ U[0, 1] per sample", low=0.0)


def build_gp(params: GradientPenaltyParams) -> Any:
    """E[(‖∇ s(x̂)‖ − 1)²] on random interpolates of real and generated samples (discriminator side)."""
    from energan.regularizers import GradientPenalty

    return GradientPenalty(params.weight)


@hookimpl
def register_regularizers(register: Register) -> None:
    register("gp", build_gp, params=GradientPenaltyParams)

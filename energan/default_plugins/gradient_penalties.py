"""Gradient penalties on the energy (discriminator side): R1 on real data, WGAN-GP on interpolates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class R1Params:
    weight: float = param(10.0, "γ in (γ/2)·E_real ‖∇ₓ s(x)‖², added to the energy's loss (logged unweighted: ½·E‖∇ₓ s‖²)", low=0.0)


@dataclass(frozen=True)
class GradientPenaltyParams:
    weight: float = param(10.0, "λ in λ·E[(‖∇ s(x̂)‖ − 1)²], x̂ = εx + (1 − ε)G(z), ε ~ U[0, 1] per sample", low=0.0)


def build_r1(params: R1Params) -> Any:
    """(γ/2)·E_real ‖∇ₓ s(x)‖² on the real batch (discriminator side)."""
    from energan.regularizers import R1

    return R1(params.weight)


def build_gp(params: GradientPenaltyParams) -> Any:
    """E[(‖∇ s(x̂)‖ − 1)²] on random interpolates of real and generated samples (discriminator side)."""
    from energan.regularizers import GradientPenalty

    return GradientPenalty(params.weight)


@hookimpl
def register_regularizers(register: Register) -> None:
    register("r1", build_r1, params=R1Params)
    register("gp", build_gp, params=GradientPenaltyParams)

"""BEGAN's loss: an auto-encoder energy balanced by the proportional control k_t."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class BEGANParams:
    gamma: float = param(
        0.5,
        "γ, the diversity ratio E[L(G(z))] / E[L(x)] the control aims at: k_{t+1} = clip(k_t + λ_k(γ·L(x) − L(G(z))), 0, 1);"
        " the paper's range is [0, 1], above 1 the fakes are held harder to reconstruct than the data",
        low=0.0,
        high=2.0,
    )
    lambda_k: float = param(0.001, "λ_k, the gain of k's update k_{t+1} = clip(k_t + λ_k(γ·L(x) − L(G(z))), 0, 1)", low=0.0)
    k_init: float = param(0.0, "k_0, the weight of the fakes' term in L_D = L(x) − k_t·L(G(z)) at the first step", low=0.0, high=1.0)


def build_began(params: BEGANParams) -> Any:
    """L_D = L(x) − k_t·L(G(z)), L_G = L(G(z)), k_t by proportional control; for an auto-encoder energy (distance l1: η = 1, mse: η = 2)."""
    from energan.losses import BEGANLoss

    return BEGANLoss(params.gamma, params.lambda_k, params.k_init)


@hookimpl
def register_losses(register: Register) -> None:
    register("began", build_began, params=BEGANParams)

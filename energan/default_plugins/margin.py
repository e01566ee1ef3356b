"""EBGAN's margin (hinge) loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class MarginParams:
    margin: float = param(
        0.5,
        "m in [m − D(G(z))]⁺: the energy fakes are pushed up to, in the energy's units "
        "(autoencoder mse / l1: a per-pixel mean; l2: the per-sample norm, where the paper uses 10 on MNIST)",
        low=0.0,
    )


def build_margin(params: MarginParams) -> Any:
    """f_D = D(x) + [m − D(G(z))]⁺, f_G = D(G(z))."""
    from energan.losses import MarginLoss

    return MarginLoss(params.margin)


@hookimpl
def register_losses(register: Register) -> None:
    register("margin", build_margin, params=MarginParams)

"""The original GAN's logistic loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.options import LOGISTIC_GENERATOR_LOSSES
from energan.params import param


@dataclass(frozen=True)
class LogisticParams:
    generator_loss: str = param("non-saturating", "generator objective f", choices=LOGISTIC_GENERATOR_LOSSES)


def build_logistic(params: LogisticParams) -> Any:
    """s = logit of "fake": ℓ_real = softplus(s), ℓ_fake = softplus(−s); s* = log q/p."""
    from energan.losses import LogisticLoss

    return LogisticLoss(params.generator_loss)


@hookimpl
def register_losses(register: Register) -> None:
    register("logistic", build_logistic, params=LogisticParams)

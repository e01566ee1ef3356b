"""MAGAN's loss: EBGAN's margin loss with a margin that adapts to the data's energy."""

from __future__ import annotations

from typing import Any

from energan.hookspecs import Register, hookimpl


def build_magan() -> Any:
    """f_D = D(x) + [m − D(G(z))]⁺, f_G = D(G(z)); m from the warm-up (needs warmup_steps > 0), lowered per epoch."""
    from energan.losses import AdaptiveMarginLoss

    return AdaptiveMarginLoss()


@hookimpl
def register_losses(register: Register) -> None:
    register("magan", build_magan)

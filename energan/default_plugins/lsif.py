"""Least-squares importance fitting, from the unifying view of GAN-type losses."""

from __future__ import annotations

from typing import Any

from energan.hookspecs import Register, hookimpl


def build_lsif() -> Any:
    """ℓ_real = s², ℓ_fake = −2s, f = s; s* = q/p."""
    from energan.losses import LSIFLoss

    return LSIFLoss()


@hookimpl
def register_losses(register: Register) -> None:
    register("lsif", build_lsif)

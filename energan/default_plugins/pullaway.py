"""EBGAN-PT's pull-away term on the codes of the generated batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.options import PULLAWAY_IMPLEMENTATIONS
from energan.params import param

SCOPES = ("global", "local")


@dataclass(frozen=True)
class PullAwayParams:
    weight: float = param(0.1, "weight of f_PT in the generator loss (the paper's 0.1)", low=0.0)
    impl: str = param("auto", "kernel: auto (triton on CUDA, else fused), fused, triton or reference", choices=PULLAWAY_IMPLEMENTATIONS)
    eps: float = param(1e-8, "smoothing: rows are divided by sqrt(|s|² + eps²), so zero rows stay zero", low=1e-30)
    scope: str = param(
        "global",
        "under torchrun: global (f_PT of the whole batch, the codes gathered from every process with their gradients) "
        "or local (of each process's share); one process: the same",
        choices=SCOPES,
    )


def build_pullaway(params: PullAwayParams) -> Any:
    """f_PT(S) = 1/(N(N−1)) Σ_{i≠j} cos²(S_i, S_j) on the fake batch's codes (generator side)."""
    from energan.regularizers import PullAway

    return PullAway(params.weight, params.impl, params.eps, params.scope)


@hookimpl
def register_regularizers(register: Register) -> None:
    register("pullaway", build_pullaway, params=PullAwayParams)

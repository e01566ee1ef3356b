"""Out-of-distribution detection by the run's energy against its outlier sets (``--metric ood``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class OodParams:
    images: int = param(1000, "held-out test images (the first ones), and as many images of each outlier set", low=10)


def build_ood(params: OodParams) -> Any:
    """AUROC, AUPR and FPR95 of the energy telling each outlier set ([outliers.NAME]) from held-out
    test images; the headline is the mean AUROC over the sets."""
    from energan.metrics.ood import OutOfDistribution

    return OutOfDistribution(params.images)


@hookimpl
def register_metrics(register: Register) -> None:
    register("ood", build_ood, params=OodParams)

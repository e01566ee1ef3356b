"""FID and KID (torchmetrics) with torch-fidelity's Inception-v3 weights from a local file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class InceptionDistanceParams:
    samples: int = param(5000, "generated samples compared with the dataset's held-out images", low=2)
    weights: str = param("", "path of weights-inception-2015-12-05-6726825d.pth (default: $ENERGAN_INCEPTION_WEIGHTS, torch hub cache)")
    download: bool = param(False, "fetch the weights into torch's hub cache when no local copy exists (needs a network)")


def build_fid(samples: int, weights: str, download: bool) -> Any:
    """Fréchet Inception Distance to the held-out real images (lower is better)."""
    from energan.metrics.fid import InceptionDistance

    return InceptionDistance("fid", samples, weights, download)


def build_kid(samples: int, weights: str, download: bool) -> Any:
    """Kernel Inception Distance (unbiased MMD², cubic kernel, 100 subsets) and its std."""
    from energan.metrics.fid import InceptionDistance

    return InceptionDistance("kid", samples, weights, download)


@hookimpl
def register_metrics(register: Register) -> None:
    register("fid", build_fid, params=InceptionDistanceParams)
    register("kid", build_kid, params=InceptionDistanceParams)

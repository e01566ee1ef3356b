"""FID and KID on the standard FID network (TF Inception-v3, 2015-12-05) from the ``fid`` extra."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class InceptionDistanceParams:
    samples: int = param(10_000, "generated samples scored at the end of a run and by energan evaluate", low=2)
    training_samples: int = param(5_000, "generated samples scored at evaluations during training", low=2)
    reference_images: int = param(50_000, "training images behind the cached reference statistics (all of a smaller split)", low=2)


def _build(kind: str, params: InceptionDistanceParams) -> Any:
    from energan.metrics.fid import InceptionDistance, require_extra

    require_extra(kind)  # fail when the run is built, not at its first evaluation
    return InceptionDistance(kind, params.samples, params.training_samples, params.reference_images)


def build_fid(params: InceptionDistanceParams) -> Any:
    """Fréchet Inception Distance to the training split (lower is better), with its protocol."""
    return _build("fid", params)


def build_kid(params: InceptionDistanceParams) -> Any:
    """Kernel Inception Distance (unbiased MMD², cubic kernel, 100 subsets of 1000) and its std."""
    return _build("kid", params)


@hookimpl
def register_metrics(register: Register) -> None:
    register("fid", build_fid, params=InceptionDistanceParams)
    register("kid", build_kid, params=InceptionDistanceParams)

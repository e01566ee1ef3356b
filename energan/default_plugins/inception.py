"""Inception Score from a classifier energan trains on the dataset itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class InceptionParams:
    samples: int = param(1000, "generated samples scored", low=10)


def build_inception(samples: int) -> Any:
    """exp(E KL(p(y|x) ‖ p(y))) with the dataset classifier; also scores the real test images."""
    from energan.metrics.inception import InceptionScore

    return InceptionScore(samples)


@hookimpl
def register_metrics(register: Register) -> None:
    register("inception_score", build_inception, params=InceptionParams)

"""Inception Score from a classifier energan trains on the dataset itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class InceptionParams:
    samples: int = param(10_000, "generated samples scored at the end of a run and by energan evaluate", low=10)
    splits: int = param(10, "the samples are scored in this many equal parts: mean ± std over them (Salimans et al.)", low=1)
    training_samples: int = param(2_000, "generated samples scored at evaluations during training", low=10)


def build_inception(samples: int, splits: int, training_samples: int) -> Any:
    """exp(E KL(p(y|x) ‖ p(y))) with the dataset classifier, mean ± std over splits; with the
    real test images' score, the classes present and the protocol (N, splits, classifier accuracy)."""
    from energan.errors import ConfigError
    from energan.metrics.inception import InceptionScore

    if splits > min(samples, training_samples):
        raise ConfigError(f"inception_score: splits {splits} exceeds the samples scored ({min(samples, training_samples)}); use splits ≤ samples")
    return InceptionScore(samples, splits, training_samples)


@hookimpl
def register_metrics(register: Register) -> None:
    register("inception_score", build_inception, params=InceptionParams)

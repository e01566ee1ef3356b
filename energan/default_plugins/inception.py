"""Inception Score from the dataset's classifier (shipped for the embedded mnist5k, otherwise trained once and cached)."""

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


def build_inception(params: InceptionParams) -> Any:
    """exp(E KL(p(y|x) ‖ p(y))) with the dataset classifier, mean ± std over splits; with the
    real test images' score, the classes present and the protocol (N, splits, classifier accuracy)."""
    from energan.errors import ConfigError
    from energan.metrics.inception import InceptionScore

    scored = min(params.samples, params.training_samples)
    if params.splits > scored:
        raise ConfigError(f"inception_score: splits {params.splits} exceeds the samples scored ({scored}); use splits ≤ samples")
    return InceptionScore(params.samples, params.splits, params.training_samples)


@hookimpl
def register_metrics(register: Register) -> None:
    register("inception_score", build_inception, params=InceptionParams)

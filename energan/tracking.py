"""Does a quantity logged during training track one that is evaluated? (BEGAN's M_global against
the Inception Score, say.) Spearman's rank correlation between the training value, averaged over
the steps since the previous evaluation, and the evaluated value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from energan.errors import ConfigError
from energan.plots import RunCurves, Series


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            result[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return result


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's ρ: Pearson's correlation of the ranks; nan when either side is constant."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"spearman needs two sequences of the same length ≥ 2, got {len(x)} and {len(y)}")
    rx, ry = ranks(x), ranks(y)
    mean = (len(x) + 1) / 2
    covariance = sum((a - mean) * (b - mean) for a, b in zip(rx, ry, strict=True))
    spread = (sum((a - mean) ** 2 for a in rx) * sum((b - mean) ** 2 for b in ry)) ** 0.5
    return covariance / spread if spread else float("nan")


def interval_means(series: Series, at: Sequence[int]) -> list[float]:
    """The mean of ``series`` over the steps after the previous point of ``at`` up to each one
    (nan where the interval holds no step)."""
    means, previous = [], -1
    for step in at:
        inside = [value for s, value in zip(series.steps, series.values, strict=True) if previous < s <= step]
        means.append(sum(inside) / len(inside) if inside else float("nan"))
        previous = step
    return means


@dataclass(frozen=True)
class Tracking:
    """One run's evaluations: steps, the training key's interval means, the evaluated values, and ρ."""

    run: str
    steps: tuple[int, ...]
    trained: tuple[float, ...]
    evaluated: tuple[float, ...]

    @property
    def rho(self) -> float:
        return spearman(self.trained, self.evaluated) if len(self.steps) >= 2 else float("nan")


def tracking(run: RunCurves, train_key: str, eval_key: str) -> Tracking:
    """``train_key`` (logged in training) against ``eval_key`` (logged at evaluations) in ``run``."""
    trained, evaluated = run.get("train", train_key), run.get("eval", eval_key)
    if trained is None:
        raise ConfigError(f"{run.name}: no training value {train_key!r}; logged: {', '.join(run.series.get('train', {})) or 'none'}")
    if evaluated is None:
        raise ConfigError(f"{run.name}: no evaluated value {eval_key!r}; logged: {', '.join(run.series.get('eval', {})) or 'none'}")
    means = interval_means(trained, evaluated.steps)
    kept = [(s, m, v) for s, m, v in zip(evaluated.steps, means, evaluated.values, strict=True) if m == m]
    steps, trained_means, values = zip(*kept, strict=True) if kept else ((), (), ())
    return Tracking(run.name, tuple(steps), tuple(trained_means), tuple(values))


def pooled_rho(runs: Sequence[Tracking]) -> float:
    """ρ over every run's evaluations together."""
    trained = [value for run in runs for value in run.trained]
    evaluated = [value for run in runs for value in run.evaluated]
    return spearman(trained, evaluated) if len(trained) >= 2 else float("nan")

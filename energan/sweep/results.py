"""A finished (or running) sweep's results, read back from the storage, and their statistics."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from typing import Any

from energan.errors import ConfigError
from energan.sweep.grids import KnobValue
from energan.sweep.study import ERROR_ATTR, MAX_RETRIES, SPEC_ATTR, latest_trials, lost_attempts, study_name, sweep_families


@dataclasses.dataclass(frozen=True)
class PointResult:
    """One grid point's outcome: its knob values and score (None when it failed)."""

    family: str
    point: dict[str, KnobValue]
    score: float | None
    error: str | None = None
    real_score: float | None = None
    details: dict[str, float] = dataclasses.field(default_factory=dict)  # the score's protocol and companions
    seconds: float | None = None  # wall time of the point's training and scoring
    run_dir: str | None = None
    sweep: str = ""  # the sweep that ran it: pooled sweeps (other seeds) repeat each point once per sweep

    def succeeded(self, fraction: float, min_share: float) -> bool:
        """IS ≥ ``fraction`` × the real images' IS and every class voted for by ≥ ``min_share`` of the samples."""
        share = self.details.get("smallest_class_share")
        return (
            self.score is not None
            and self.real_score is not None
            and share is not None
            and self.score >= fraction * self.real_score
            and share >= min_share
        )


@dataclasses.dataclass(frozen=True)
class FamilyResults:
    family: str
    knobs: dict[str, list[KnobValue]]
    grid_size: int
    points: list[PointResult]
    higher_is_better: bool = True  # the direction of the sweep's objective
    data: str = ""  # the dataset the sweep trained on, by registry name ("" where the sweep did not record it)

    @property
    def scores(self) -> list[float]:
        return [p.score for p in self.points if p.score is not None]

    @property
    def failed(self) -> list[PointResult]:
        return [p for p in self.points if p.score is None]

    def where(self, knob: str, value: KnobValue) -> list[PointResult]:
        return [p for p in self.points if p.point.get(knob) == value]


@dataclasses.dataclass(frozen=True)
class Summary:
    """Median, quartiles, best and the share of finished points scoring ≥ a threshold."""

    finished: int
    failed: int
    median: float
    q1: float
    q3: float
    best: float
    share_above: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


def summarize(points: Sequence[PointResult], threshold: float, higher_is_better: bool = True) -> Summary:
    """Failed points count as finished and on the wrong side of the threshold; quartiles use the
    scored ones; ``best`` and the share at least as good as ``threshold`` follow the direction."""
    scores = sorted(p.score for p in points if p.score is not None)
    nan = math.nan
    if len(scores) >= 2:
        q1, median, q3 = statistics.quantiles(scores, n=4, method="inclusive")
    else:
        q1 = median = q3 = scores[0] if scores else nan
    return Summary(
        finished=len(points),
        failed=len(points) - len(scores),
        median=median,
        q1=q1,
        q3=q3,
        best=(scores[-1] if higher_is_better else scores[0]) if scores else nan,
        share_above=sum(_as_good(score, threshold, higher_is_better) for score in scores) / len(points) if points else nan,
    )


COLLAPSE_CLASSES = 5  # a point whose samples the classifier puts in fewer classes than this has collapsed
BOOTSTRAP_RESAMPLES = 10_000


@dataclasses.dataclass(frozen=True)
class Reliability:
    """How reliably a family trains over a grid: the median score with a bootstrap 95 % interval,
    the share of points at ≥ ``fraction`` of the real images' score, the share collapsed (fewer
    than :data:`COLLAPSE_CLASSES` classes), and the failed points. Shares are over every point,
    failed ones included (a failed point neither succeeds nor counts as collapsed)."""

    points: int
    failed: int
    median: float
    low: float  # the median's bootstrap 95 % interval
    high: float
    share_good: float
    share_collapsed: float


def bootstrap_median_interval(scores: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """The percentile bootstrap 95 % interval of the median: the 2.5th and 97.5th percentiles of
    the medians of ``resamples`` resamples with replacement (a fixed seed: a report is reproducible)."""
    if not scores:
        return math.nan, math.nan
    import torch

    values = torch.tensor(list(scores), dtype=torch.float64)
    draws = torch.randint(len(values), (resamples, len(values)), generator=torch.Generator().manual_seed(seed))
    medians = torch.quantile(values[draws], 0.5, dim=1)  # the midpoint of the two middle values, as statistics.median
    low, high = torch.quantile(medians, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return low, high


def reliability(points: Sequence[PointResult], real_score: float, fraction: float) -> Reliability:
    """The family's :class:`Reliability` at ≥ ``fraction`` × ``real_score``."""
    scored = [p for p in points if p.score is not None]
    scores = [p.score for p in scored]
    total = len(points)
    low, high = bootstrap_median_interval(scores)
    collapsed = [p for p in scored if p.details.get("classes_present", math.inf) < COLLAPSE_CLASSES]
    return Reliability(
        points=total,
        failed=total - len(scored),
        median=statistics.median(scores) if scores else math.nan,
        low=low,
        high=high,
        share_good=sum(score >= fraction * real_score for score in scores) / total if total else math.nan,
        share_collapsed=len(collapsed) / total if total else math.nan,
    )


@dataclasses.dataclass(frozen=True)
class PairedComparison:
    """Two families over the points both scored (the same knob values in the same sweep): the
    median of the differences ``first − second`` with its bootstrap 95 % interval, how often each
    scored higher, and the two-sided sign test's p-value (ties left out)."""

    first: str
    second: str
    pairs: int
    median_difference: float
    low: float
    high: float
    first_higher: int
    second_higher: int
    p_value: float


def paired_comparison(first: FamilyResults, second: FamilyResults) -> PairedComparison:
    """Pair two families that sweep the same knobs on their scored points' knob values and sweep."""
    if first.knobs != second.knobs:
        raise ConfigError(f"{first.family} and {second.family} sweep other knobs; only families of one grid pair point by point")

    def by_point(family: FamilyResults) -> dict[tuple, float]:
        return {(p.sweep, *sorted(p.point.items())): p.score for p in family.points if p.score is not None}

    mine, theirs = by_point(first), by_point(second)
    differences = [score - theirs[key] for key, score in mine.items() if key in theirs]  # in the sweep's order: reproducible
    low, high = bootstrap_median_interval(differences)
    first_higher = sum(d > 0 for d in differences)
    second_higher = sum(d < 0 for d in differences)
    return PairedComparison(
        first=first.family,
        second=second.family,
        pairs=len(differences),
        median_difference=statistics.median(differences) if differences else math.nan,
        low=low,
        high=high,
        first_higher=first_higher,
        second_higher=second_higher,
        p_value=sign_test(first_higher, second_higher),
    )


def sign_test(wins: int, losses: int) -> float:
    """The exact two-sided sign test: the chance of a split at least this uneven between ``wins``
    and ``losses`` when either side wins each pair with probability ½."""
    n = wins + losses
    if n == 0:
        return math.nan
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of several tests' p-values (NaN ones left as they are): the
    k-th smallest of m is multiplied by m − k + 1, kept monotone, capped at 1."""
    order = sorted((i for i, p in enumerate(p_values) if not math.isnan(p)), key=lambda i: p_values[i])
    adjusted = list(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def pooled(studies: Sequence[Sequence[FamilyResults]]) -> list[FamilyResults]:
    """Several sweeps of the same grid (other seeds) as one: each family's points together, in
    the order the families first appear; the grid's size counts every sweep's points."""
    merged: dict[str, FamilyResults] = {}
    for study in studies:
        for family in study:
            seen = merged.get(family.family)
            if seen is None:
                merged[family.family] = family
            elif seen.knobs != family.knobs:
                raise ConfigError(f"family {family.family!r} sweeps other knobs in two of the sweeps; pool sweeps of one grid")
            elif seen.data != family.data:
                raise ConfigError(
                    f"family {family.family!r} trained on {seen.data!r} in one sweep and on {family.data!r} in another; pool sweeps of one dataset"
                )
            else:
                merged[family.family] = dataclasses.replace(
                    seen, grid_size=seen.grid_size + family.grid_size, points=[*seen.points, *family.points]
                )
    return list(merged.values())


def _as_good(score: float, threshold: float, higher_is_better: bool) -> bool:
    return score >= threshold if higher_is_better else score <= threshold


def load_results(storage: Any, sweep: str) -> list[FamilyResults]:
    """Every family's finished points (each point's latest trial; surplus trials skipped)."""
    import optuna

    families = sweep_families(storage, sweep)
    if not families:
        names = sorted({name.split("/")[0] for name in optuna.get_all_study_names(storage)})
        raise ConfigError(f"no sweep named {sweep!r} in this storage; valid: {', '.join(names) or 'none yet (run energan sweep)'}")
    out = []
    for family in families:
        study = optuna.load_study(study_name=study_name(sweep, family), storage=storage)
        spec = study.user_attrs[SPEC_ATTR]
        grid = spec["grid"]
        knobs = {**grid["knobs"], **grid["family_knobs"].get(family, {})}
        size = math.prod(len(values) for values in knobs.values())
        points = _finished_points(sweep, family, study.get_trials(deepcopy=False))
        out.append(FamilyResults(family, knobs, size, points, spec.get("higher_is_better", True), spec.get("data", "")))
    return out


def _finished_points(sweep: str, family: str, trials: Sequence[Any]) -> list[PointResult]:
    """Complete points with their score; failed ones (an error, or lost too often) with the reason."""
    import optuna

    State = optuna.trial.TrialState
    lost = lost_attempts(trials)
    points = []
    for point, trial in sorted(latest_trials(trials).items()):
        real = trial.user_attrs.get("inception_score_real")
        if trial.state == State.COMPLETE:
            details = {key: value for key, value in trial.user_attrs.items() if isinstance(value, float)}
            seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
            points.append(
                PointResult(family, dict(trial.params), trial.value, None, real, details, seconds, trial.user_attrs.get("run_dir"), sweep)
            )
        elif trial.state == State.FAIL and ERROR_ATTR in trial.user_attrs:
            points.append(PointResult(family, dict(trial.params), None, trial.user_attrs[ERROR_ATTR], real, sweep=sweep))
        elif trial.state == State.FAIL and lost[point] > MAX_RETRIES:
            points.append(PointResult(family, dict(trial.params), None, f"its worker died {lost[point]} times", real, sweep=sweep))
    return points


def real_score(results: Sequence[FamilyResults]) -> float | None:
    """The real test images' Inception Score (the score's ceiling), as the points recorded it."""
    reals = [p.real_score for family in results for p in family.points if p.real_score is not None]
    return statistics.median(reals) if reals else None

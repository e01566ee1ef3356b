"""Does a training value track an evaluated one: ranks, Spearman's ρ and interval means by hand,
and `energan plot --correlate` on a run directory written here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from checks import one_line

from energan.plots import Series, read_run
from energan.tracking import interval_means, pooled_rho, ranks, spearman, tracking


def test_ranks_share_ties() -> None:
    assert ranks([3.0, 1.0, 4.0, 1.0, 5.0]) == [3.0, 1.5, 4.0, 1.5, 5.0]


@pytest.mark.parametrize(
    ("x", "y", "rho"),
    [
        ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
        ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
        ([1, 2, 3, 4], [1, 3, 2, 4], 0.8),  # 1 − 6·Σd²/(n(n² − 1)) = 1 − 6·2/60
        ([1, 2, 3], [2, 2, 5], math.sqrt(3) / 2),  # ranks (1, 2, 3) against (1.5, 1.5, 3): 1.5/√(2·1.5)
    ],
)
def test_spearman_by_hand(x: list[float], y: list[float], rho: float) -> None:
    assert spearman(x, y) == pytest.approx(rho)


def test_spearman_of_a_constant_is_nan_and_lengths_must_match() -> None:
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="same length"):
        spearman([1, 2], [1, 2, 3])


def test_interval_means_average_the_steps_since_the_previous_evaluation() -> None:
    series = Series((25, 50, 75, 100, 125), (1.0, 3.0, 5.0, 7.0, 9.0))
    means = interval_means(series, [50, 100, 110])
    assert means[:2] == [2.0, 6.0] and math.isnan(means[2])  # nothing logged in (100, 110]


def write_run(directory: Path, evaluations: list[tuple[int, float]], train: list[tuple[int, float]]) -> Path:
    directory.mkdir(parents=True)
    lines = [{"step": s, "time": 0.0, "kind": "train", "m_global": v} for s, v in train]
    lines += [{"step": s, "time": 0.0, "kind": "eval", "inception_score": v} for s, v in evaluations]
    (directory / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in sorted(lines, key=lambda r: r["step"])))
    return directory


def test_tracking_pairs_each_evaluation_with_the_interval_before_it(tmp_path: Path) -> None:
    run = read_run(
        write_run(tmp_path / "a", [(100, 5.0), (200, 7.0), (300, 6.0)], [(50, 1.0), (100, 3.0), (150, 4.0), (200, 6.0), (300, 5.0)])
    )
    tracked = tracking(run, "m_global", "inception_score")
    assert (tracked.steps, tracked.trained, tracked.evaluated) == ((100, 200, 300), (2.0, 5.0, 5.0), (5.0, 7.0, 6.0))
    assert tracked.rho == pytest.approx(spearman([2.0, 5.0, 5.0], [5.0, 7.0, 6.0]))
    other = tracking(read_run(write_run(tmp_path / "b", [(100, 1.0), (200, 2.0)], [(100, 9.0), (200, 8.0)])), "m_global", "inception_score")
    assert pooled_rho([tracked, other]) == pytest.approx(spearman([2.0, 5.0, 5.0, 9.0, 8.0], [5.0, 7.0, 6.0, 1.0, 2.0]))


def test_plot_correlate_prints_each_run_and_the_pool(tmp_path: Path, cli) -> None:
    a = write_run(tmp_path / "a", [(100, 5.0), (200, 7.0), (300, 9.0)], [(100, 1.0), (200, 2.0), (300, 3.0)])
    b = write_run(tmp_path / "b", [(100, 5.0), (200, 7.0), (300, 9.0)], [(100, 3.0), (200, 2.0), (300, 1.0)])
    code, out, _ = cli("plot", a, b, "-o", tmp_path / "c.png", "--keys", "m_global", "--correlate", "m_global", "inception_score")
    assert code == 0
    assert "a: Spearman ρ(m_global, inception_score) = +1.00 over 3 evaluations" in out
    assert "b: Spearman ρ(m_global, inception_score) = -1.00 over 3 evaluations" in out
    assert "pooled: Spearman ρ = +0.00 over 6 evaluations" in out


def test_plot_correlate_names_a_key_that_was_not_logged(tmp_path: Path, cli) -> None:
    a = write_run(tmp_path / "a", [(100, 5.0), (200, 7.0)], [(100, 1.0), (200, 2.0)])
    code, _, err = cli("plot", a, "-o", tmp_path / "c.png", "--correlate", "k", "inception_score")
    assert code != 0
    assert one_line(err) == "energan: error: a: no training value 'k'; logged: m_global"

"""AUROC, AUPR and FPR95 of energies against hand-made scores (ties included), and against the
Mann–Whitney U statistic that the AUROC is."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu

from energan.errors import DataError
from energan.metrics.detection import detection


def energies(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def test_perfect_reversed_and_tied_separations() -> None:
    perfect = detection(energies([0.0, 1.0]), energies([2.0, 3.0]))
    assert (perfect.auroc, perfect.aupr, perfect.fpr95) == (1.0, 1.0, 0.0)
    reversed_ = detection(energies([2.0, 3.0]), energies([0.0, 1.0]))
    assert (reversed_.auroc, reversed_.fpr95) == (0.0, 1.0)
    tied = detection(energies([1.0, 1.0]), energies([1.0, 1.0]))
    assert (tied.auroc, tied.aupr, tied.fpr95) == (0.5, 0.5, 1.0)  # one threshold: everything flagged, half of it outliers


def test_a_hand_counted_case() -> None:
    # outliers above held-out pairs: 0.3 beats 1, 0.5 and 0.6 beat 3 each, 0.9 beats 4: 11 of 16
    # AP over the ranking 0.9o 0.8i 0.6o 0.5o 0.4i 0.35i 0.3o 0.1i: ¼ (1 + 2/3 + 3/4 + 4/7)
    # all four outliers found at threshold 0.3, which flags 0.35, 0.4 and 0.8: 3 of 4 held-out
    result = detection(energies([0.1, 0.35, 0.4, 0.8]), energies([0.3, 0.5, 0.6, 0.9]))
    assert result.auroc == pytest.approx(11 / 16)
    assert result.aupr == pytest.approx((1 + 2 / 3 + 3 / 4 + 4 / 7) / 4)
    assert result.fpr95 == pytest.approx(3 / 4)


def test_ties_between_the_sets() -> None:
    # pairs: 0.5o vs 0.2 wins, vs the two 0.5s ties (½ each); 0.7o beats all three: (1 + 1 + 3) / 6
    # AP: 0.7o alone (P 1, R ½), then the tied group {0.5o, 0.5i, 0.5i} at once (P 2/4, R 1)
    result = detection(energies([0.2, 0.5, 0.5]), energies([0.5, 0.7]))
    assert result.auroc == pytest.approx(5 / 6)
    assert result.aupr == pytest.approx(0.5 * 1 + 0.5 * 0.5)
    assert result.fpr95 == pytest.approx(2 / 3)


scores = st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=30)  # few values: many ties


@settings(max_examples=60, deadline=None)
@given(inliers=scores, outliers=scores)
def test_the_auroc_is_the_mann_whitney_statistic(inliers: list[float], outliers: list[float]) -> None:
    result = detection(energies(inliers), energies(outliers))
    u = mannwhitneyu(outliers, inliers, alternative="greater").statistic  # ties count half
    assert result.auroc == pytest.approx(u / (len(inliers) * len(outliers)))
    assert 0.0 <= result.fpr95 <= 1.0 and 0.0 < result.aupr <= 1.0


def test_nan_and_empty_energies_are_named_not_averaged() -> None:
    with pytest.raises(DataError, match=r"^detection: 2 of 3 outlier energies are not finite \(the first, #1, is nan\)$"):
        detection(energies([0.0, 1.0]), energies([1.0, math.nan, math.inf]))
    with pytest.raises(DataError, match=r"^detection: no held-out energies to score$"):
        detection(energies([]), energies([1.0]))

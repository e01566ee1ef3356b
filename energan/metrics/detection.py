"""How well an energy tells outliers from held-out data: AUROC, AUPR and the false-positive rate
at 95 % true positives, computed by scikit-learn.

Outliers are the positives and the energy is the score (low energy = real), as in Hendrycks et
al.'s Outlier Exposure: AUPR is the precision-recall area of finding the outliers, and FPR95 the
share of held-out images flagged when 95 % of the outliers are.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

from energan.errors import DataError

TRUE_POSITIVE_RATE = 0.95


@dataclasses.dataclass(frozen=True)
class Detection:
    """The three numbers of one outlier set against the held-out data."""

    auroc: float
    aupr: float
    fpr95: float


def detection(inliers: Tensor, outliers: Tensor) -> Detection:
    """AUROC, AUPR and FPR95 of ``outliers``' energies [M] against ``inliers``' [N] (ties count half
    in the AUROC, as one threshold in the other two)."""
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    scores = np.concatenate([_checked(inliers, "held-out"), _checked(outliers, "outlier")])
    labels = np.concatenate([np.zeros(len(inliers)), np.ones(len(outliers))])
    false_positives, true_positives, _ = roc_curve(labels, scores, drop_intermediate=False)
    first = np.searchsorted(true_positives, TRUE_POSITIVE_RATE, side="left")  # the rates rise with the threshold falling
    return Detection(
        auroc=float(roc_auc_score(labels, scores)),
        aupr=float(average_precision_score(labels, scores)),
        fpr95=float(false_positives[first]),
    )


def _checked(energies: Tensor, which: str) -> np.ndarray:
    """The energies as float64; none at all, or any that is not finite, is a one-line error."""
    values = energies.detach().to(torch.float64).cpu().numpy().reshape(-1)
    if values.size == 0:
        raise DataError(f"detection: no {which} energies to score")
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"detection: {int(bad.sum())} of {values.size} {which} energies are not finite (the first, #{first}, is {values[first]})"
        )
    return values

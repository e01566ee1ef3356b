"""Out-of-distribution detection by the run's energy: AUROC, AUPR and FPR95 of the energy telling
each of the run's outlier sets ([outliers.NAME]) from the held-out test images.

The headline ``ood_auroc`` is the mean AUROC over the sets; each set reports ``ood_auroc_NAME``,
``ood_aupr_NAME`` and ``ood_fpr95_NAME``. The noise and transforms are drawn from one fixed seed,
so every evaluation of a run, and every run, faces the same outliers.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from energan.components import OutlierSet, RunEnergy
from energan.data import DataSource, unit_range
from energan.errors import DataError
from energan.metrics.detection import detection
from energan.metrics.energies import image_energies

OUTLIER_SEED = 0  # the noise, the dataset sets' draw and the samples' latents: the same at every evaluation
HEADLINE = "ood_auroc"


def outlier_images(heldout: Tensor, sets: Mapping[str, OutlierSet], generate: Callable[[int], Tensor]) -> dict[str, Tensor]:
    """Each set's images, as many as ``heldout`` (floats in [-1, 1]), checked: too few, or another
    shape, is a one-line error naming the set."""
    drawn = {}
    for name, outlier_set in sets.items():
        rng = torch.Generator().manual_seed(OUTLIER_SEED)
        images = outlier_set.images(heldout, generate, rng)
        if len(images) < len(heldout):
            raise DataError(
                f"outlier set {name!r} gave {len(images)} images, fewer than the {len(heldout)} held-out ones; valid: at least as many"
            )
        if images.shape[1:] != heldout.shape[1:]:
            raise DataError(f"outlier set {name!r} gave images of [C, H, W] {tuple(images.shape[1:])}; valid: {tuple(heldout.shape[1:])}")
        drawn[name] = images[: len(heldout)]
    return drawn


class OutOfDistribution:
    """The energy as a detector of each outlier set against ``images`` held-out test images."""

    name = HEADLINE
    higher_is_better = True
    requires = frozenset({"test_split", "energy"})

    def __init__(self, images: int) -> None:
        self.images = images
        self.run: RunEnergy | None = None

    def attach(self, run: RunEnergy) -> None:
        if not run.outlier_sets:
            raise DataError("metric 'ood' needs at least one outlier set; choose some with --outliers NAME ([outliers.NAME])")
        self.run = run

    def prepare(self, data: DataSource) -> None:
        """Nothing to build: the energy is the run's own."""

    def evaluate(self, generate: Callable[[int], Tensor], data: DataSource, final: bool) -> dict[str, float]:
        if self.run is None:
            raise RuntimeError("metric 'ood' evaluated before the run's energy was attached")
        test = data.load().test_images
        heldout = unit_range(test[: self.images]).float()
        energy, device = self.run.energy, self.run.device
        inliers = image_energies(energy, heldout, device)
        values: dict[str, float] = {"ood_heldout_images": float(len(heldout))}
        aurocs = []
        for name, images in outlier_images(heldout, self.run.outlier_sets, generate).items():
            try:
                found = detection(inliers, image_energies(energy, images, device))
            except DataError as error:  # non-finite energies: named, never averaged
                raise DataError(f"metric 'ood', outlier set {name!r}: {error}") from None
            values.update({f"ood_auroc_{name}": found.auroc, f"ood_aupr_{name}": found.aupr, f"ood_fpr95_{name}": found.fpr95})
            aurocs.append(found.auroc)
        return {HEADLINE: statistics.fmean(aurocs), **values}

"""The detection study's table (README.md beside this file): each trained energy, and two baselines,
as a detector of eight outlier sets against mnist5k's 1 000 held-out test digits.

    .venv/bin/python docs/results/energy/analyse.py [RUNS_DIR]      # default runs/energy, the sweep's --runs-dir

Rows: the five families' energies (three seeds each, the sweep of run.sh), the auto-encoder trained
on the digits alone, and the shipped mnist5k classifier's maximum softmax probability (the score is
minus it, Hendrycks & Gimpel 2017). The outliers are energan's built-in outlier sets, drawn exactly
as ``--metric ood`` draws them (energan.metrics.ood.outlier_images), plus scikit-learn's 8×8 digits
brought to 28×28 (``[outliers.dataset] name = "digits"``). Each family's "samples" are its own
generator's; the two baselines, which have no generator worth the name, face EBGAN-PT's samples of
the same seed. A cell is the mean AUROC over the three seeds with a 95 % percentile bootstrap
interval (scipy.stats.bootstrap, the held-out and outlier images of every seed resampled), then
the lowest and highest seed's AUROC (the spread between seeds, which the interval does not hold).
Writes auroc.md and per-run.csv (AUROC, AUPR, FPR95 of every run and set) beside this file.
"""

from __future__ import annotations

import csv
import dataclasses
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from energan.assemble import build_outlier_sets
from energan.config import Resolved
from energan.data import unit_range
from energan.kinds import OUTLIER_SET
from energan.metrics.classifier import class_probabilities, dataset_classifier
from energan.metrics.detection import detection
from energan.metrics.energies import image_energies
from energan.metrics.ood import outlier_images
from energan.plugins import load_plugins
from energan.rundir import open_run
from energan.run import Run

HERE = Path(__file__).parent
SWEEP = "sweeps/seeds-mnist5k-12000"
FAMILIES = ("ebgan", "ebgan-pt", "began", "magan", "gan", "autoencoder-alone")
CLASSIFIER = "classifier-msp"
SETS = {
    "uniform": {},
    "gaussian": {},
    "samples": {},
    "inverted": {},
    "rotated": {},
    "shifted": {},
    "blurred": {},
    "dataset": {"name": "digits"},
}
HELDOUT = 1000
RESAMPLES = 2000
Scores = dict[str, tuple[np.ndarray, np.ndarray]]  # set -> (held-out scores, outlier scores)


def runs(root: Path, family: str) -> dict[int, Path]:
    """The family's runs by seed (the baseline's sweep is its own, run.sh)."""
    found = {}
    sweep = root / "sweeps" / family if family == "autoencoder-alone" else root / SWEEP
    for run_dir in sorted((sweep / family).glob("p*")):
        if (run_dir / "checkpoints" / "last.pt").is_file():
            found[tomllib.loads((run_dir / "config.toml").read_text())["seed"]] = run_dir
    return found


def study_sets(run: Run, plugins) -> dict:
    """The study's outlier sets, built as the run's own would be."""
    registry = plugins.registries[OUTLIER_SET]
    chosen = {name: Resolved.of(registry.get(name), values) for name, values in SETS.items()}
    return build_outlier_sets(dataclasses.replace(run.config, tables={**run.config.tables, OUTLIER_SET.key: chosen}), plugins)


def scores(score: Callable[[torch.Tensor], np.ndarray], heldout: torch.Tensor, outliers: dict[str, torch.Tensor]) -> Scores:
    inliers = score(heldout)
    return {name: (inliers, score(images)) for name, images in outliers.items()}


def auroc(inliers: np.ndarray, outliers: np.ndarray, axis: int = -1) -> np.ndarray:
    """P(outlier score > held-out score) + ½ P(tie): the Mann–Whitney U over n·m (ties count half)."""
    return stats.mannwhitneyu(outliers, inliers, axis=axis).statistic / (inliers.shape[axis] * outliers.shape[axis])


def interval(per_seed: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float, float]:
    """Mean AUROC over the seeds and its 95 % bootstrap interval (every seed's images resampled)."""
    samples = [array for pair in per_seed for array in pair]

    def mean_auroc(*arrays: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean([auroc(arrays[i], arrays[i + 1], axis) for i in range(0, len(arrays), 2)], axis=0)

    result = stats.bootstrap(
        samples, mean_auroc, paired=False, vectorized=True, n_resamples=RESAMPLES, method="percentile", random_state=0, batch=100
    )
    return float(mean_auroc(*samples)), float(result.confidence_interval.low), float(result.confidence_interval.high)


def main(root: Path) -> None:
    torch.set_num_threads(1)
    plugins = load_plugins()
    table: dict[str, dict[int, Scores]] = {family: {} for family in (*FAMILIES, CLASSIFIER)}
    ebgan_pt = runs(root, "ebgan-pt")
    for family in FAMILIES:
        for seed, run_dir in runs(root, family).items():
            run = open_run(run_dir, plugins)
            data = run.data.load()
            heldout = unit_range(data.test_images[:HELDOUT]).float()
            baseline = family == "autoencoder-alone"
            generate = open_run(ebgan_pt[seed], plugins).sample if baseline else run.sample
            outliers = outlier_images(heldout, study_sets(run, plugins), generate)
            energy = lambda images: image_energies(run.energy, images, run.device).numpy()  # noqa: E731
            table[family][seed] = scores(energy, heldout, outliers)
            print(f"{family} seed {seed}: " + " ".join(f"{n} {auroc(*pair):.3f}" for n, pair in table[family][seed].items()), flush=True)
            if baseline:
                reference = dataset_classifier(run.data)
                surprise = lambda images: (-class_probabilities(reference.classifier, images).max(dim=1).values).double().numpy()  # noqa: E731
                table[CLASSIFIER][seed] = scores(surprise, heldout, outliers)
    write_per_run(table)
    write_table(table)


def write_per_run(table: dict[str, dict[int, Scores]]) -> None:
    with (HERE / "per-run.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["detector", "seed", "outlier_set", "auroc", "aupr", "fpr95"])
        for family, by_seed in table.items():
            for seed, by_set in sorted(by_seed.items()):
                for name, (inliers, outliers) in by_set.items():
                    found = detection(torch.from_numpy(inliers), torch.from_numpy(outliers))
                    writer.writerow([family, seed, name, f"{found.auroc:.4f}", f"{found.aupr:.4f}", f"{found.fpr95:.4f}"])


def write_table(table: dict[str, dict[int, Scores]]) -> None:
    header = ["detector", "seeds", *SETS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for family, by_seed in table.items():
        if not by_seed:
            continue
        cells = []
        for name in SETS:
            pairs = [by_seed[seed][name] for seed in sorted(by_seed)]
            mean, low, high = interval(pairs)
            each = [float(auroc(*pair)) for pair in pairs]
            cells.append(f"{mean:.3f} [{low:.3f}, {high:.3f}] {min(each):.2f}–{max(each):.2f}")
        lines.append(f"| {family} | {len(by_seed)} | " + " | ".join(cells) + " |")
    (HERE / "auroc.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/energy"))

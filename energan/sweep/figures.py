"""The paper's sweep figures: score histograms per knob value, best / median heat maps."""

from __future__ import annotations

import statistics
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from energan.runfiles import RunFiles
from energan.sweep.grids import KnobValue
from energan.sweep.results import FamilyResults, PointResult

BINS = 20
TITLE_WIDTH = 30  # characters per line of a montage panel's title


def _score_range(results: Sequence[FamilyResults], ceiling: float | None) -> tuple[float, float]:
    scores = [score for family in results for score in family.scores]
    low = min([*scores, 1.0])
    return low, max([*scores, ceiling or 0.0, low + 1.0])


def histogram_figure(results: Sequence[FamilyResults], knob: str, values: Sequence[KnobValue], ceiling: float | None) -> Figure:
    """One panel per knob value; in each, the families' score histograms side by side."""
    figure = Figure(figsize=(3.2 * len(values), 2.8), layout="constrained")
    axes = figure.subplots(1, len(values), sharey=True, squeeze=False)[0]
    bins = np.linspace(*_score_range(results, ceiling), BINS + 1)
    for ax, value in zip(axes, values, strict=True):
        groups = [[p.score for p in family.where(knob, value) if p.score is not None] for family in results]
        ax.hist(groups, bins=bins, label=[family.family for family in results])
        ax.set_title(f"{knob} = {value}")
        ax.set_xlabel("Inception Score")
    axes[0].set_ylabel("runs")
    axes[-1].legend(fontsize="small")
    return figure


def overall_figure(results: Sequence[FamilyResults], ceiling: float | None) -> Figure:
    """Every point's score, one histogram per family side by side."""
    figure = Figure(figsize=(5, 3), layout="constrained")
    ax = figure.subplots()
    bins = np.linspace(*_score_range(results, ceiling), BINS + 1)
    ax.hist([family.scores for family in results], bins=bins, label=[family.family for family in results])
    if ceiling is not None:
        ax.axvline(ceiling, color="black", linestyle="--", linewidth=1, label="real test images")
    ax.set_xlabel("Inception Score")
    ax.set_ylabel("runs")
    ax.legend(fontsize="small")
    return figure


def score_matrix(family: FamilyResults, rows: str, columns: str, statistic: str) -> np.ndarray:
    """Best or median score over the other knobs, for each (rows value, columns value) cell."""
    reduce = max if statistic == "best" else statistics.median
    matrix = np.full((len(family.knobs[rows]), len(family.knobs[columns])), np.nan)
    for i, row_value in enumerate(family.knobs[rows]):
        for j, column_value in enumerate(family.knobs[columns]):
            scores = [p.score for p in family.where(rows, row_value) if p.point.get(columns) == column_value and p.score is not None]
            if scores:
                matrix[i, j] = reduce(scores)
    return matrix


def heatmap_figure(results: Sequence[FamilyResults], rows: str, columns: str) -> Figure:
    """A row of (best, median) heat maps per family over two knobs, cells labelled."""
    figure = Figure(figsize=(7, 2.8 * len(results)), layout="constrained")
    axes = figure.subplots(len(results), 2, squeeze=False)
    matrices = {(f.family, s): score_matrix(f, rows, columns, s) for f in results for s in ("best", "median")}
    finite = [value for matrix in matrices.values() for value in matrix.flat if np.isfinite(value)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    for (ax_best, ax_median), family in zip(axes, results, strict=True):
        for ax, statistic in ((ax_best, "best"), (ax_median, "median")):
            matrix = matrices[(family.family, statistic)]
            image = ax.imshow(matrix, vmin=low, vmax=high, cmap="viridis", origin="lower")
            middle = (low + high) / 2
            for (i, j), value in np.ndenumerate(matrix):
                ink = "black" if np.isfinite(value) and value > middle else "white"  # readable on viridis
                ax.text(j, i, "—" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=8, color=ink)
            ax.set_xticks(range(len(family.knobs[columns])), [str(v) for v in family.knobs[columns]])
            ax.set_yticks(range(len(family.knobs[rows])), [str(v) for v in family.knobs[rows]])
            ax.set_xlabel(columns)
            ax.set_ylabel(rows)
            ax.set_title(f"{family.family}: {statistic} IS")
        figure.colorbar(image, ax=[ax_best, ax_median], shrink=0.8)
    return figure


def save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=110)
    return path


def final_sample_path(run_dir: str | None) -> Path | None:
    """The latest sample grid a point's run wrote, if it still exists."""
    grids = RunFiles(Path(run_dir)).sample_grids() if run_dir else []
    return grids[-1] if grids else None


def montage_figure(results: Sequence[FamilyResults], label: Callable[[PointResult], str]) -> Figure | None:
    """Every point's final sample grid, one row per family, titled with its knobs and score."""
    import matplotlib.image

    rows = [[(p, final_sample_path(p.run_dir)) for p in family.points] for family in results]
    columns = max(len(row) for row in rows)
    if not any(path for row in rows for _, path in row):
        return None
    figure = Figure(figsize=(2.2 * columns, 2.5 * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for family, row, row_axes in zip(results, rows, axes, strict=True):
        for ax in row_axes:
            ax.axis("off")
        for ax, (point, path) in zip(row_axes, row, strict=False):
            if path is not None:
                ax.imshow(matplotlib.image.imread(path), cmap="gray")
            score = "failed" if point.score is None else f"IS {point.score:.2f}"
            title = textwrap.fill(f"{family.family} {label(point)}", TITLE_WIDTH)
            ax.set_title(f"{title}\n{score}", fontsize="x-small")
    return figure

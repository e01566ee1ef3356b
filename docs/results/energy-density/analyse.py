"""Is a trained energy an energy of the data? Spearman's ρ of s(x) with the true −log P(x).

    .venv/bin/python docs/results/energy-density/analyse.py [RUNS_DIR] [--jobs 2]

Reads the runs run.sh trained (RUNS_DIR, default runs/energy-density: <dataset>/<family>-seed<N>),
opens each at every 1 000-step checkpoint, scores its energy in eval mode on a 200 × 200 grid over
the data's square [-1, 1]² and ranks it against −log P, on every grid point and near the data
(P ≥ 1e-3 of its peak). For the logistic GAN it also ranks the logit against log Q̂/P̃ (Q̂: a
Gaussian KDE of 20 000 generator samples, Scott's rule; P̃: P smoothed by the same kernel) at the
KDE_STEPS. Writes correlations.csv, correlations.md and one figure per family beside this file.
"""

from __future__ import annotations

import argparse
import dataclasses
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from einops import rearrange
from scipy.stats import rankdata

from energan.data.mixtures import PAPER_STD, SCALE, mixture_modes
from energan.metrics.energies import image_energies
from energan.metrics.known_density import GaussianMixture, density_correlations, kde_log_ratio, rank_correlation, square_grid
from energan.plugins import load_plugins
from energan.records import read_records
from energan.rundir import open_run
from energan.runfiles import RunFiles

HERE = Path(__file__).parent
DATASETS = ("grid25", "ring8")
FAMILIES = ("ebgan", "ebgan-pt", "began", "magan", "gan", "autoencoder-alone")
SEEDS = (0, 1, 2)
STEPS = tuple(range(1000, 10_001, 1000))  # checkpoint_every in run.sh; the eval-time best checkpoints are left out
KDE_STEPS = (1000, 2000, 5000, 10_000)  # a KDE on the grid takes ~20 s: the GAN's log Q/P at these steps only
RESOLUTION = 200
HALF_WIDTH = 1.0  # the data's square: every sample lies in [-1, 1]²
SAMPLES = 20_000
SAMPLE_SEED = 20_000  # the generator's latents for the KDE, the same at every checkpoint
BANDWIDTH = "scott"
TABLE_STEPS = (1000, 2000, 5000, 9000, 10_000)  # 9 000 beside 10 000: how much the last thousand steps move
FIGURE_DPI = 80  # 1 360 px wide (17 in)


@dataclasses.dataclass
class RunMeasure:
    """One run's correlations at each checkpoint, with its grids at the last one."""

    dataset: str
    family: str
    seed: int
    rows: list[dict]
    energy: np.ndarray  # s(x) on the grid at the last checkpoint
    log_ratio: np.ndarray | None  # the GAN's log Q̂/P̃ on the grid at the last checkpoint


def mixture_of(run) -> GaussianMixture:
    """The run's own data density: its modes and per-coordinate std, in the data's scaled units."""
    data = run.data.load()
    return GaussianMixture(data.modes.numpy().astype(np.float64), float(data.mode_std))


def measure(run_dir: Path, dataset: str, family: str, seed: int) -> RunMeasure:
    """ρ of the run's energy with −log P (and, for the GAN, with log Q̂/P̃) at every checkpoint."""
    torch.set_num_threads(1)
    plugins = load_plugins()
    points = square_grid(HALF_WIDTH, RESOLUTION)
    images = rearrange(torch.from_numpy(points).float(), "n d -> n d 1 1")
    evaluations = {record["step"]: record for record in read_records(RunFiles(run_dir).metrics) if record["kind"] == "eval"}
    rows, energy, log_ratio = [], None, None
    for step in STEPS:
        run = open_run(run_dir, plugins, checkpoint=str(RunFiles(run_dir).numbered(step)))
        mixture = mixture_of(run)
        energy = image_energies(run.model.energy, images, run.model.device).numpy()
        row = {"dataset": dataset, "family": family, "seed": seed, "step": step, **density_correlations(energy, points, mixture)}
        near = mixture.near_data(points)
        row["energy_near"], row["energy_far"] = float(np.median(energy[near])), float(np.median(energy[~near]))
        row["modes_covered"] = evaluations.get(step, {}).get("modes_covered")  # at the config's evaluations (every 2 500 steps)
        if family == "gan" and step in KDE_STEPS:
            samples = rearrange(run.model.sample(SAMPLES, SAMPLE_SEED).numpy().astype(np.float64), "n d 1 1 -> n d")
            log_ratio = kde_log_ratio(samples, points, mixture, BANDWIDTH)
            row["rho_ratio_all"] = rank_correlation(energy, log_ratio)
            row["rho_ratio_near"] = rank_correlation(energy, log_ratio, mixture.near_data(points))
        rows.append(row)
    return RunMeasure(dataset, family, seed, rows, energy, log_ratio)


def summary(frame: pd.DataFrame, column: str, steps: tuple[int, ...], number: str) -> pd.DataFrame:
    """Family × step: the median of ``column`` over seeds and its range, as text (``number`` formats each)."""
    kept = frame[frame["step"].isin(steps)].dropna(subset=[column])
    grouped = kept.groupby(["family", "step"], sort=False)[column]
    text = grouped.median().map(number.format) + " [" + grouped.min().map(number.format) + ", " + grouped.max().map(number.format) + "]"
    table = text.unstack("step").fillna("—")
    return table.reindex([family for family in FAMILIES if family in table.index])


def markdown(frame: pd.DataFrame, steps: tuple[int, ...]) -> str:
    """Every dataset's tables: ρ with −log P on all points and near the data, the GAN's ρ with log Q̂/P̃, the
    median energies near and away from the data, the modes covered."""
    parts = []
    columns = {
        "rho_near": ("ρ(s, −log P) near the data (P ≥ 1e-3 of its peak)", "{:+.2f}"),
        "rho_all": ("ρ(s, −log P) on all grid points", "{:+.2f}"),
        "rho_ratio_near": ("the GAN: ρ(logit, log Q̂/P̃) near the data", "{:+.2f}"),
        "rho_ratio_all": ("the GAN: ρ(logit, log Q̂/P̃) on all grid points", "{:+.2f}"),
        "energy_near": ("the median energy s(x) of the grid points near the data", "{:.3g}"),
        "energy_far": ("the median energy s(x) of the other grid points", "{:.3g}"),
        "modes_covered": ("modes covered (mode_coverage: ≥ 20 of 2 500 samples within 3σ)", "{:.0f}"),
    }
    for dataset in DATASETS:
        subset = frame[frame["dataset"] == dataset]
        for column, (title, number) in columns.items():
            if column not in subset or subset[column].isna().all():
                continue
            seeds = subset.dropna(subset=[column]).groupby("family")["seed"].nunique()
            table = summary(subset, column, steps, number)
            header = ["family", *(f"step {step}" for step in table.columns)]
            lines = [header, ["---"] * len(header)]
            lines += [
                [f"{family} ({seeds[family]} seeds)", *cells] for family, cells in zip(table.index, table.to_numpy().tolist(), strict=True)
            ]
            parts += [f"### {dataset}: {title} — median [min, max] over seeds", "", *("| " + " | ".join(line) + " |" for line in lines), ""]
    return "\n".join(parts)


def rank_image(values: np.ndarray) -> np.ndarray:
    """The grid's values as their rank share (0: lowest), as an image with the origin at the lower left."""
    return rearrange(rankdata(values) / len(values), "(y x) -> y x", y=RESOLUTION)


def figure(family: str, measures: list[RunMeasure], frame: pd.DataFrame, path: Path) -> None:
    """Per dataset: the rank maps of −log P and of each seed's energy at the last step, and ρ against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratio = family == "gan"
    rows = [(dataset, "energy") for dataset in DATASETS] + ([(dataset, "ratio") for dataset in DATASETS] if ratio else [])
    fig, axes = plt.subplots(len(rows), 5, figsize=(17, 3.4 * len(rows)), squeeze=False)
    extent = (-HALF_WIDTH, HALF_WIDTH, -HALF_WIDTH, HALF_WIDTH)
    points = square_grid(HALF_WIDTH, RESOLUTION)
    for (dataset, kind), row in zip(rows, axes, strict=True):
        by_seed = {m.seed: m for m in measures if m.dataset == dataset}
        if kind == "energy":
            truth = GaussianMixture(mixture_modes(dataset).numpy() / SCALE[dataset], PAPER_STD[dataset] / SCALE[dataset])
            row[0].imshow(rank_image(-truth.log_density(points)), origin="lower", extent=extent, cmap="viridis")
            row[0].set_title(f"{dataset}: true −log P (rank)")
        else:
            row[0].axis("off")
            row[0].text(
                0.5,
                0.5,
                f"{dataset}\nlog Q̂/P̃ of each seed\n(KDE of {SAMPLES} samples,\nScott's rule), step {STEPS[-1]}",
                ha="center",
                va="center",
            )
        for seed, axis in zip(SEEDS, row[1:4], strict=True):
            measure_ = by_seed.get(seed)
            values = None if measure_ is None else (measure_.energy if kind == "energy" else measure_.log_ratio)
            if values is None:
                axis.text(0.5, 0.5, "no run", ha="center", va="center", transform=axis.transAxes)
            else:
                axis.imshow(rank_image(values), origin="lower", extent=extent, cmap="viridis")
                modes = mixture_modes(dataset).numpy() / SCALE[dataset]
                axis.scatter(modes[:, 0], modes[:, 1], s=12, marker="+", color="red", linewidths=0.8)
            label = "s(x)" if kind == "energy" else "log Q̂/P̃"
            axis.set_title(f"seed {seed}: {label} at step {STEPS[-1]} (rank)")
        curves = frame[frame["dataset"] == dataset]
        columns = ("rho_all", "rho_near") if kind == "energy" else ("rho_ratio_all", "rho_ratio_near")
        for seed in SEEDS:
            one = curves[curves["seed"] == seed].dropna(subset=[columns[0]]) if columns[0] in curves else curves.iloc[:0]
            for column, style in zip(columns, ("-", "--"), strict=True):
                label = f"seed {seed}" if style == "-" else None
                row[4].plot(one["step"], one[column], style, marker="o", markersize=3, color=f"C{seed}", label=label)
        row[4].axhline(0, color="grey", linewidth=0.5)
        row[4].set_ylim(-1.05, 1.05)
        row[4].set_xlabel("step")
        row[4].set_ylabel("Spearman ρ with " + ("−log P" if kind == "energy" else "log Q̂/P̃"))
        row[4].set_title("solid: all points, dashed: near the data", fontsize=9)
        row[4].legend(fontsize=6)
    fig.suptitle(f"{family}: the trained energy against the true density (rank maps: dark = low)")
    fig.tight_layout()
    save_small(fig, path)
    plt.close(fig)


def save_small(fig, path: Path) -> None:
    """The figure as a PNG of FIGURE_DPI in a fixed palette (palette()), each pixel its nearest entry:
    the rank maps' smooth gradients in full RGBA made each figure 0.6-1.1 MB, this 155-270 KB.
    An adaptive palette (PIL's median cut) drops rare colours (seed 1's orange came out
    yellow), and PIL's quantize to a given palette is coarse (white came out 250 grey)."""
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
    rgb, entries = np.asarray(Image.open(buffer).convert("RGB"), dtype=np.int32), palette()
    colours, pixels = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True)
    nearest = ((entries**2).sum(1) - 2 * colours @ entries.T).argmin(1).astype(np.uint8)  # |c - e|² less |c|²
    image = Image.fromarray(nearest[pixels.ravel()].reshape(rgb.shape[:2]), mode="P")
    image.putpalette(entries.astype(np.uint8).ravel().tolist())
    image.save(path, optimize=True)


def palette() -> np.ndarray:
    """The 152 colours the figures draw, as 0-255 RGB: 96 steps of viridis (the rank maps), 40 greys
    (text, axes, the zero line), and the seeds' colours and the modes' red, each pure and faded
    towards white (their anti-aliased edges)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_rgb

    colours = [colormaps["viridis"](x)[:3] for x in np.linspace(0, 1, 96)]  # no banding visible at 96; 180 made gan.png 350 KB
    colours += [(g, g, g) for g in np.linspace(0, 1, 40)]
    colours += [np.array(to_rgb(name)) * (1 - white) + white for name in ("C0", "C1", "C2", "red") for white in (0, 0.25, 0.5, 0.75)]
    return np.rint(255 * np.array(colours)).astype(np.int32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs_dir", type=Path, nargs="?", default=Path("runs/energy-density"))
    parser.add_argument("--jobs", type=int, default=1, help="runs measured at a time (one thread each)")
    args = parser.parse_args()
    jobs = [
        (args.runs_dir / dataset / f"{family}-seed{seed}", dataset, family, seed)
        for dataset in DATASETS
        for family in FAMILIES
        for seed in SEEDS
    ]
    present = [job for job in jobs if RunFiles(job[0]).numbered(STEPS[-1]).is_file()]
    for job in sorted(set(jobs) - set(present)):
        print(f"missing (no step-{STEPS[-1]} checkpoint): {job[0]}")
    with ProcessPoolExecutor(args.jobs) as pool:
        measures = list(pool.map(measure, *zip(*present, strict=True)))
    frame = pd.DataFrame([row for m in measures for row in m.rows])
    frame.to_csv(HERE / "correlations.csv", index=False, float_format="%.4f")
    (HERE / "correlations.md").write_text(markdown(frame, STEPS))
    print(markdown(frame, TABLE_STEPS))
    for family in FAMILIES:
        chosen = [m for m in measures if m.family == family]
        if chosen:
            figure(family, chosen, frame[frame["family"] == family], HERE / f"{family}.png")


if __name__ == "__main__":
    main()

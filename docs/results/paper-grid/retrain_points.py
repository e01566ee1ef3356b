"""Retrain sweep points whose run directories are gone, into their recorded directories.

    python docs/results/paper-grid/retrain_points.py sqlite:///runs/sweeps/sweeps.db paper32-s0,paper32-s1 extremes [FAMILY ...]
    python docs/results/paper-grid/retrain_points.py sqlite:///runs/sweeps/sweeps.db optim-s0 all gan

`extremes` retrains each family's pooled best, median and worst point (what `energan report
--points` copies), `all` every point. Each point trains from the sweep's stored identity (grid,
family config, seed, steps) on one thread, as a sweep worker would, and its new score is printed
beside the stored one: a determinism check, and sample grids for the report.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import optuna
import torch

from energan.plugins import load_plugins
from energan.sweep.families import SweepSpec, load_family
from energan.sweep.grids import load_grid
from energan.sweep.report_files import extremes
from energan.sweep.results import FamilyResults, PointResult, load_results, pooled
from energan.sweep.study import SPEC_ATTR, study_name
from energan.trainer import train


def chosen_points(family: FamilyResults, mode: str) -> dict[str, PointResult]:
    if mode == "extremes":
        return extremes(family)
    return {f"point {index}": point for index, point in enumerate(family.points) if point.score is not None}


def retrain(storage: str, point: PointResult, family: str, plugins: object) -> float:
    """Train one point from its sweep's stored identity into its recorded run directory."""
    stored = optuna.load_study(study_name=study_name(point.sweep, family), storage=storage).user_attrs[SPEC_ATTR]
    spec = SweepSpec(load_grid(stored["grid"]["name"]), load_family(family), steps=stored["steps"], seed=stored["seed"])
    if json.loads(json.dumps(spec.to_dict())) != stored:
        raise SystemExit(f"{family}: the shipped config or grid changed since sweep {point.sweep}; retraining would not reproduce it")
    run_dir = Path(point.run_dir)
    run = train(spec.config(point.point, str(run_dir.parent), run_dir.name), plugins=plugins)
    return run.metrics[stored["objective"]]


def main(storage: str, sweeps: list[str], mode: str, families: set[str]) -> None:
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plugins = load_plugins(())
    for family in pooled([load_results(storage, sweep) for sweep in sweeps]):
        if families and family.family not in families:
            continue
        for rank, point in chosen_points(family, mode).items():
            if point.run_dir and sorted(Path(point.run_dir).glob("samples/step-*.png")):
                print(f"{family.family} {rank}: on disk ({point.run_dir})", flush=True)
                continue
            score = retrain(storage, point, family.family, plugins)
            print(f"{family.family} {rank} ({point.sweep}, {point.point}): stored {point.score:.4f}, retrained {score:.4f}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[3] not in ("extremes", "all"):
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2].split(","), sys.argv[3], set(sys.argv[4:]))

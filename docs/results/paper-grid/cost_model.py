"""The full Table 1 grid's cost, predicted from the measured `paper-mnist-32` points.

    python docs/results/paper-grid/cost_model.py runs/sweeps/sweeps.db paper32-s0 paper32-s1

Per family, a least-squares line of a point's wall time on its two networks' parameter count
(the MLP step's matrix products grow with it), fitted on the measured points and applied to
every point of `paper-mnist`. The full grid reaches 38 M parameters against the measured grid's
8 M, so the prediction extrapolates: it assumes the step stays matrix-product bound.
"""

from __future__ import annotations

import statistics
import sys

import torch

from energan.config import resolve
from energan.model import build_model
from energan.plugins import load_plugins
from energan.sweep.families import SweepSpec, load_family
from energan.sweep.grids import NAMED_GRIDS, KnobValue
from energan.sweep.results import load_results, pooled
from energan.sweep.study import open_storage

FULL = NAMED_GRIDS["paper-mnist"]
ARCHITECTURE = ("nLayerG", "nLayerD", "sizeG", "sizeD")
SHAPE = (1, 28, 28)
BUDGET = 3000  # the steps a point was timed at (a config checks its warm-up against them)


def parameter_counter(plugins):
    """Millions of parameters of a family's generator and energy at a point (cached per architecture)."""
    counted: dict[tuple, float] = {}

    def count(family: str, point: dict[str, KnobValue]) -> float:
        key = (family, *(point[knob] for knob in ARCHITECTURE))
        if key not in counted:
            full_point = {knob: point.get(knob, values[0]) for knob, values in FULL.space(family).items()}
            spec = SweepSpec(FULL, load_family(family), steps=BUDGET)
            config = resolve(spec.config(full_point, "unused", "p"), plugins.registries)
            model = build_model(config, plugins.registries, SHAPE, torch.device("cpu"))
            counted[key] = sum(p.numel() for net in (model.generator, model.energy) for p in net.parameters()) / 1e6
        return counted[key]

    return count


def main(database: str, sweeps: list[str]) -> None:
    count = parameter_counter(load_plugins())
    storage = open_storage(f"sqlite:///{database}")
    for family in pooled([load_results(storage, sweep) for sweep in sweeps]):
        timed = [(count(family.family, p.point), p.seconds) for p in family.points if p.seconds is not None]
        if len(timed) < 2:
            continue
        sizes, seconds = zip(*timed, strict=True)
        fit = statistics.linear_regression(sizes, seconds)
        error = statistics.median(abs(s - (fit.intercept + fit.slope * m)) / s for m, s in timed)
        full = [count(family.family, point) for point in FULL.points(family.family)]
        predicted = [fit.intercept + fit.slope * m for m in full]
        print(
            f"{family.family}: {len(timed)} points measured, median {statistics.median(seconds):.0f} s "
            f"({max(sizes):.1f} M parameters at most); fit {fit.intercept:.0f} s + {fit.slope:.1f} s per M parameters, "
            f"median error {100 * error:.0f} %; paper-mnist: {len(full)} points up to {max(full):.0f} M, "
            f"median {statistics.median(predicted):.0f} s, {sum(predicted) / 3600:.0f} worker-hours"
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])

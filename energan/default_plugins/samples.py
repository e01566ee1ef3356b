"""Observer: samples from a fixed z at every evaluation, ``<run>/samples/step-NNNNNNN.png`` (the step, zero-padded).

Images become an 8-wide grid; 2-D point data (shape [2, 1, 1], e.g. ring8, grid25) becomes a
scatter plot over the data, with the modes marked where the dataset declares them.
"""

from __future__ import annotations

from typing import Any

from energan.hookspecs import hookimpl
from energan.images import draw_samples


@hookimpl
def on_evaluate(run: Any, step: int, metrics: dict[str, float]) -> None:
    draw_samples(run, run.files.sample_grid(step))

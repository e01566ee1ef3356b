"""The sweep's sampler: Optuna's grid sampler, minus its own end-of-grid stop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna


class QueuedGridSampler(optuna.samplers.GridSampler):
    """Declares the grid for Optuna's tools; energan's queue of enqueued points decides which point
    a trial trains and when a sweep ends (energan/sweep/worker.py).

    ``GridSampler.after_trial`` stops the study when one grid point is left, reading a grid id that
    only trials it drew itself carry: on a queued trial (the only kind here) that is a KeyError
    which killed the worker after the last point of every grid.
    """

    def after_trial(self, study: Any, trial: Any, state: Any, values: Sequence[float] | None) -> None:
        """Nothing: the queue, not the sampler, ends the sweep."""

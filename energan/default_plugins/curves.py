"""Observer: the run's training curves, ``<run>/curves.png``, drawn from its ``metrics.jsonl`` at
every evaluation and at the end of training (so the figure and the file agree).

Panels: the losses, the mean energies with the margin, the regularizers, the loss's diagnostics
and each metric (± its std). Its hooks run last, once ``jsonl`` has written the line.
"""

from __future__ import annotations

from typing import Any

from energan.hookspecs import hookimpl

KEY = "curves"  # run.extras: the step of the last figure


@hookimpl(trylast=True)
def on_evaluate(run: Any, step: int, metrics: dict[str, float]) -> None:
    from energan.curves import write_curves

    write_curves(run.directory)
    run.extras[KEY] = step


@hookimpl(trylast=True)
def on_train_end(run: Any) -> None:
    """Draw again unless the final evaluation just drew this step (a failed or interrupted run has none)."""
    from energan.curves import METRICS, write_curves

    if run.extras.pop(KEY, None) != run.step and (run.directory / METRICS).is_file():
        write_curves(run.directory)

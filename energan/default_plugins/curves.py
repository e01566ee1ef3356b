"""Observer: the run's training curves, ``<run>/curves.png``, drawn from its ``metrics.jsonl`` at
every evaluation and at the end of training (so the figure and the file agree).

Panels: the losses, the mean energies with the margin, the regularizers, the loss's diagnostics
and each metric (± its std). Its hooks run last, once ``jsonl`` has written the line.
"""

from __future__ import annotations

from typing import Any

from energan.hookspecs import hookimpl


class CurvesFigure:
    """Draws a run's figure, remembering the step it last drew (one run at a time in a process)."""

    def __init__(self) -> None:
        self.drawn: tuple[object, int] | None = None  # (run directory, step) of the last figure

    def draw(self, run: Any) -> None:
        from energan.plots import write_curves

        write_curves(run.directory)
        self.drawn = (run.directory, run.step)

    def finish(self, run: Any) -> None:
        """Draw again unless the final evaluation just drew this step (a failed or interrupted run
        has none) or nothing was logged (a run that failed before its first log has only its start line)."""
        from energan.plots import read_series

        path = run.files.metrics
        if self.drawn != (run.directory, run.step) and path.is_file() and any(read_series(path).values()):
            self.draw(run)
        self.drawn = None


FIGURE = CurvesFigure()


@hookimpl(trylast=True)
def on_evaluate(run: Any, step: int, metrics: dict[str, float]) -> None:
    FIGURE.draw(run)


@hookimpl(trylast=True)
def on_train_end(run: Any) -> None:
    FIGURE.finish(run)

"""Progress of fitting a classifier: a live rich bar on a terminal, a few plain lines off one (logs)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from rich.console import Console

PLAIN_LINES = 5  # status lines per fit when the console is not a terminal

Update = Callable[[int, int, float], None]  # (step, epoch, training accuracy of the epoch so far)


@contextlib.contextmanager
def fit_progress(console: Console, description: str, steps: int, epochs: int) -> Iterator[Update]:
    """Yield ``update(step, epoch, accuracy)``, to call after each step: it redraws a bar on a
    terminal, and elsewhere prints a line at every fifth of the steps."""
    if not console.is_terminal:
        console.print(f"{description}: {epochs} epochs, {steps} steps", soft_wrap=True)
        yield _plain(console, description, steps, epochs)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn(f"epoch {{task.fields[epoch]}}/{epochs}  step"),
        MofNCompleteColumn(),
        TextColumn("train accuracy {task.fields[accuracy]:.1%}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(description, total=steps, epoch=1, accuracy=0.0)
        yield lambda step, epoch, accuracy: bar.update(task, completed=step, epoch=epoch, accuracy=accuracy)


def _plain(console: Console, description: str, steps: int, epochs: int) -> Update:
    started = time.monotonic()

    def update(step: int, epoch: int, accuracy: float) -> None:
        if step * PLAIN_LINES // steps > (step - 1) * PLAIN_LINES // steps:  # crossed a fifth (the last step too)
            elapsed = time.monotonic() - started
            console.print(
                f"{description}: epoch {epoch}/{epochs}, step {step}/{steps}, train accuracy {accuracy:.1%}, {elapsed:.0f} s",
                soft_wrap=True,
            )

    return update

"""Observer: a live rich progress bar with the losses, energies, it/s and ETA.

On a terminal the bar redraws in place; when stderr is redirected (CI logs, ``> file``) a plain
status line is printed about every 5 % of the run instead, so logs stay readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import hookimpl

KEY = "progress"
EXTRAS = {"margin": "m", "margin_active": "active", "reg_pullaway": "PT", "k": "k", "m_global": "M"}  # shown when logged
PLAIN_LINES = 20  # status lines per run when not on a terminal


@dataclass
class PlainStatus:
    """Line-by-line progress for non-terminal output."""

    console: Any
    every: int
    next_step: int

    def update(self, run: Any, step: int, stats: str, speed: float) -> None:
        if step < self.next_step and step < run.steps:
            return
        self.next_step = step + self.every
        remaining = (run.steps - step) / speed if speed > 0 else float("nan")
        self.console.print(f"{run.name} {step}/{run.steps}  {stats}  {speed:.1f} it/s  ETA {remaining:.0f}s", soft_wrap=True)


def _stats(logs: dict[str, float]) -> str:
    extras = "".join(f"  {label} {logs[key]:.2f}" for key, label in EXTRAS.items() if key in logs)
    return f"D {logs['loss_d']:.4f}  G {logs['loss_g']:.4f}  E real {logs['energy_real']:.4f}  E fake {logs['energy_fake']:.4f}{extras}"


@hookimpl
def on_train_start(run: Any) -> None:
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        run.extras[KEY] = PlainStatus(console, every=max(1, run.steps // PLAIN_LINES), next_step=run.step)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TextColumn("{task.fields[speed]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    progress.start()
    task = progress.add_task(run.name, total=run.steps, completed=run.step, stats="", speed="")
    run.extras[KEY] = (progress, task)


@hookimpl
def on_log(run: Any, step: int, logs: dict[str, float]) -> None:
    state = run.extras[KEY]
    if isinstance(state, PlainStatus):
        state.update(run, step, _stats(logs), logs["it_per_s"])
        return
    progress, task = state
    progress.update(task, completed=step, stats=_stats(logs), speed=f"{logs['it_per_s']:.1f} it/s")


@hookimpl
def on_evaluate(run: Any, step: int, metrics: dict[str, float]) -> None:
    state = run.extras.get(KEY)
    if state is None or not metrics:  # not training (energan evaluate prints its own table), or nothing measured
        return
    console = state.console if isinstance(state, PlainStatus) else state[0].console
    console.print(f"step {step}: " + "  ".join(f"{key} {value:.4f}" for key, value in metrics.items()), soft_wrap=True)


@hookimpl
def on_train_end(run: Any) -> None:
    state = run.extras.pop(KEY, None)
    if state is not None and not isinstance(state, PlainStatus):
        state[0].stop()

"""Observer: a live rich progress bar with the losses, energies, it/s and ETA.

On a terminal the bar redraws in place; when stderr is redirected (CI logs, ``> file``) a plain
status line is printed about every 5 % of the run instead, so logs stay readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import hookimpl

EXTRAS = {"margin": "m", "margin_active": "active", "reg_pullaway": "PT", "k": "k", "m_global": "M"}  # shown when logged
PLAIN_LINES = 20  # status lines per run when not on a terminal
DATA_WAIT_SHOWN = 0.05  # the wait for data is shown once it exceeds this share of the step


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
    waiting = logs.get("data_wait", 0.0) * logs["it_per_s"]  # the share of each step spent waiting for data
    starved = f"  data wait {waiting:.0%}" if waiting > DATA_WAIT_SHOWN else ""
    return f"D {logs['loss_d']:.4f}  G {logs['loss_g']:.4f}  E real {logs['energy_real']:.4f}  E fake {logs['energy_fake']:.4f}{extras}{starved}"


class ProgressDisplay:
    """The display of the run in training (one at a time in a process): a live bar on a terminal,
    plain status lines otherwise, nothing between runs."""

    def __init__(self) -> None:
        self.plain: PlainStatus | None = None
        self.bar: tuple[Any, Any] | None = None  # rich's Progress and its task

    def start(self, run: Any) -> None:
        from rich.console import Console

        console = Console(stderr=True)
        if not console.is_terminal:
            self.plain = PlainStatus(console, every=max(1, run.steps // PLAIN_LINES), next_step=run.step)
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
        self.bar = (progress, progress.add_task(run.name, total=run.steps, completed=run.step, stats="", speed=""))

    def log(self, run: Any, step: int, logs: dict[str, float]) -> None:
        if self.plain is not None:
            self.plain.update(run, step, _stats(logs), logs["it_per_s"])
        elif self.bar is not None:
            progress, task = self.bar
            progress.update(task, completed=step, stats=_stats(logs), speed=f"{logs['it_per_s']:.1f} it/s")

    def evaluated(self, step: int, metrics: dict[str, float]) -> None:
        console = self.plain.console if self.plain is not None else self.bar[0].console if self.bar is not None else None
        if console is None or not metrics:  # not training (energan evaluate prints its own table), or nothing measured
            return
        console.print(f"step {step}: " + "  ".join(f"{key} {value:.4f}" for key, value in metrics.items()), soft_wrap=True)

    def end(self) -> None:
        if self.bar is not None:
            self.bar[0].stop()
        self.plain = self.bar = None


DISPLAY = ProgressDisplay()


@hookimpl
def on_train_start(run: Any) -> None:
    DISPLAY.start(run)


@hookimpl
def on_log(run: Any, step: int, logs: dict[str, float]) -> None:
    DISPLAY.log(run, step, logs)


@hookimpl
def on_evaluate(run: Any, step: int, metrics: dict[str, float]) -> None:
    DISPLAY.evaluated(step, metrics)


@hookimpl
def on_train_end(run: Any) -> None:
    DISPLAY.end()

"""Observer: a live rich progress bar with the losses, energies, it/s and ETA."""

from __future__ import annotations

from typing import Any

from energan.hookspecs import hookimpl

KEY = "progress"


@hookimpl
def on_train_start(run: Any) -> None:
    from rich.console import Console
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
        console=Console(stderr=True),
        transient=False,
    )
    progress.start()
    task = progress.add_task(run.name, total=run.steps, completed=run.step, stats="", speed="")
    run.extras[KEY] = (progress, task)


@hookimpl
def on_log(run: Any, step: int, logs: dict[str, float]) -> None:
    progress, task = run.extras[KEY]
    stats = (
        f"D {logs['loss_d']:.4f}  G {logs['loss_g']:.4f}  "
        f"E real {logs['energy_real']:.4f}  E fake {logs['energy_fake']:.4f}"
    )
    progress.update(task, completed=step, stats=stats, speed=f"{logs['it_per_s']:.1f} it/s")


@hookimpl
def on_evaluate(run: Any, step: int, metrics: dict[str, float]) -> None:
    progress, _ = run.extras[KEY]
    progress.console.print(f"step {step}: " + "  ".join(f"{key} {value:.4f}" for key, value in metrics.items()))


@hookimpl
def on_train_end(run: Any) -> None:
    if KEY in run.extras:
        progress, _ = run.extras.pop(KEY)
        progress.stop()

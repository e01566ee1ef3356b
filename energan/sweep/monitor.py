"""Live progress of a sweep, read from its storage: one line per family."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from energan.sweep.study import Board, read_board

REFRESH_SECONDS = 1.0


def describe(family: str, board: Board) -> str:
    best = "—" if board.best is None else f"{board.best:.3f}"
    return (
        f"{family}: {board.done + board.failed}/{board.total} points "
        f"(done {board.done}, running {board.running}, queued {board.queued}, failed {board.failed}); best {best}"
    )


def eta_seconds(board: Board, workers: int) -> float | None:
    """Rounds of points left × mean seconds per finished point, a round being the points trained at
    once: this command's workers, or more when other machines share the sweep."""
    if board.seconds_per_point is None:
        return None
    left = board.total - board.done - board.failed
    return math.ceil(left / max(workers, board.running, 1)) * board.seconds_per_point


def read_boards(studies: dict[str, Any]) -> dict[str, Board]:
    return {
        family: read_board(study.get_trials(deepcopy=False), size, study.direction.name == "MAXIMIZE")
        for family, (study, size) in studies.items()
    }


def watch(studies: dict[str, Any], workers: int, alive: Callable[[], bool]) -> dict[str, Board]:
    """Show progress until ``alive()`` is false; rich bars on a terminal, plain lines otherwise."""
    if sys.stderr.isatty():
        return _watch_rich(studies, workers, alive)
    return _watch_plain(studies, workers, alive)


def _watch_plain(studies: dict[str, Any], workers: int, alive: Callable[[], bool]) -> dict[str, Board]:
    shown: dict[str, str] = {}
    while True:
        running = alive()
        boards = read_boards(studies)
        for family, board in boards.items():
            line = describe(family, board)
            if shown.get(family) != line:
                eta = eta_seconds(board, workers)
                suffix = f"; ETA {eta / 60:.1f} min" if eta and not board.finished else ""
                print(f"sweep {line}{suffix}", file=sys.stderr, flush=True)
                shown[family] = line
        if not running:
            return boards
        time.sleep(REFRESH_SECONDS)


def _watch_rich(studies: dict[str, Any], workers: int, alive: Callable[[], bool]) -> dict[str, Board]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns: Sequence[Any] = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        TextColumn("ETA {task.fields[eta]}"),
    )
    with Progress(*columns, transient=False) as progress:
        tasks = {family: progress.add_task(family, total=size, state="", eta="—") for family, (_, size) in studies.items()}
        while True:
            running = alive()
            boards = read_boards(studies)
            for family, board in boards.items():
                eta = eta_seconds(board, workers)
                best = "—" if board.best is None else f"{board.best:.3f}"
                progress.update(
                    tasks[family],
                    completed=board.done + board.failed,
                    state=f"running {board.running} · queued {board.queued} · failed {board.failed} · best {best}",
                    eta="—" if eta is None or board.finished else f"{eta / 60:.1f} min",
                )
            if not running:
                return boards
            time.sleep(REFRESH_SECONDS)

"""The ``energan sweep`` parent process: checks the studies, starts workers, shows progress."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from energan.sweep.families import SweepSpec
from energan.sweep.monitor import describe, watch
from energan.sweep.study import default_storage, open_storage, open_study
from energan.sweep.worker import WorkerJob, refresh_queue, worker_main

STOP_SECONDS = 10.0
JOIN_SECONDS = 60.0


def launch(
    specs: Sequence[SweepSpec],
    *,
    sweep: str,
    storage: str | None,
    workers: int,
    threads: int,
    heartbeat: int,
    runs_dir: str,
    plugins: tuple[str, ...],
    prepare: Callable[[], None],
) -> int:
    """Run the sweep with ``workers`` local processes; 0 when every family's grid is finished.
    ``prepare`` runs once the studies are open, before any worker starts."""
    url = storage or default_storage(runs_dir)
    rdb = open_storage(url)
    studies = {spec.family.name: (open_study(rdb, sweep, spec), spec.size) for spec in specs}  # fails early on a mismatch
    prepare()
    print(f"sweep {sweep!r} on {url}: " + ", ".join(f"{spec.family.name} {spec.size} points" for spec in specs), file=sys.stderr)
    for spec in specs:  # the whole grid goes into the queue before any worker starts
        refresh_queue(studies[spec.family.name][0], spec, heartbeat)
    logs = Path(runs_dir) / "sweeps" / sweep / "logs"
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=worker_main,
            args=(
                WorkerJob(
                    tuple(specs),
                    sweep,
                    url,
                    heartbeat,
                    runs_dir,
                    plugins,
                    threads,
                    str(logs / f"{socket.gethostname()}-{os.getpid()}-{index}.log"),
                ),
            ),
            name=f"energan-sweep-worker-{index}",
        )
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    with _ctrl_c_recorded() as ctrl_c:
        try:
            boards = watch(studies, workers, alive=lambda: any(process.is_alive() for process in processes))
        except KeyboardInterrupt:
            ctrl_c.append(signal.SIGINT)
    if ctrl_c:
        _stop(processes)
        print(
            f"energan: interrupted; points in progress run again when the same command runs again; worker logs in {logs}", file=sys.stderr
        )
        return 130
    died = [process for process in processes if process.exitcode not in (0, None)]
    for process in died:
        points = _points_of(studies, f"{socket.gethostname()}:{process.pid}")
        where = f" while training {', '.join(points)}" if points else ""
        print(f"energan: error: {process.name} exited with code {process.exitcode}{where}; see {logs}", file=sys.stderr)
    for family, board in boards.items():
        print(describe(family, board))
    if died:
        return 1
    unfinished = [family for family, board in boards.items() if not board.finished]
    if unfinished:
        print(
            f"energan: sweep {sweep!r} not finished ({', '.join(unfinished)}): run the same command again to continue",
            file=sys.stderr,
        )
        return 1
    print(f"report: energan report {sweep}" + (f" --storage {url}" if storage else ""))
    return 0


@contextlib.contextmanager
def _ctrl_c_recorded() -> Iterator[list[int]]:
    """Ctrl-C raises KeyboardInterrupt as usual and is also recorded: one whose KeyboardInterrupt
    a library swallowed (raised inside a finalizer or a database driver's clean-up) still stops
    the sweep as interrupted, instead of it waiting for the workers and calling itself unfinished."""
    seen: list[int] = []

    def handler(signum: int, frame: object) -> None:
        seen.append(signum)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield seen
        return
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def _points_of(studies: dict[str, tuple[Any, int]], worker: str) -> list[str]:
    """The unfinished points a worker (``host:pid``) had taken, as ``family point N {knobs}``."""
    from energan.sweep.study import point_id

    return [
        f"{family} point {point_id(trial)} {trial.params}"
        for family, (study, _) in studies.items()
        for trial in study.get_trials(deepcopy=False)
        if trial.user_attrs.get("worker") == worker and trial.state.name != "COMPLETE"
    ]


def _stop(processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
    """Workers on the same terminal got the Ctrl-C and stop after their current step; the others
    get SIGTERM after a grace period. Either way their points are marked interrupted."""
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        process.join(JOIN_SECONDS)
        if process.is_alive():
            process.kill()

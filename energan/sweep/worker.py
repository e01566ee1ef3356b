"""A sweep worker: claims grid points one at a time and trains each as an ordinary energan run.

Workers are separate processes (``energan sweep --workers K`` starts K on this machine; other
machines run the same command against the same storage). A point that raises is recorded as a
failed trial with its error; a point interrupted by Ctrl-C or SIGTERM is marked interrupted and
queued again; a point whose worker is killed outright is queued again by the next worker that
notices its missing heartbeat.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from energan.errors import EnerganError
from energan.status import RunStatus
from energan.sweep.families import SweepSpec
from energan.sweep.study import (
    ERROR_ATTR,
    GRACE_HEARTBEATS,
    INTERRUPTED_ATTR,
    SURPLUS_ATTR,
    Board,
    enqueue,
    fail_unstarted,
    is_surplus,
    open_storage,
    open_study,
    point_id,
    points_to_queue,
    read_board,
)

POLL_SECONDS = 2.0


@dataclasses.dataclass(frozen=True)
class WorkerJob:
    """Everything a worker process needs (picklable: it crosses a spawn)."""

    specs: tuple[SweepSpec, ...]
    sweep: str
    storage: str
    heartbeat: int
    runs_dir: str
    plugins: tuple[str, ...]
    threads: int
    log_path: str


class PointInterrupted(KeyboardInterrupt):
    """The point's training stopped early on a signal; the point is queued again."""


def attempt_directory(job: WorkerJob, spec: SweepSpec, point: int, number: int) -> Path:
    """Each attempt at a point trains in its own directory: a retry never touches a lost attempt's files."""
    return Path(job.runs_dir) / "sweeps" / job.sweep / spec.family.name / f"p{point:04d}-t{number}"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _mark(trial: Any, key: str, value: Any) -> None:
    """Record why an attempt ended, if the storage can still be reached."""
    with contextlib.suppress(Exception):
        trial.set_user_attr(key, value)


class PointObjective:
    """Optuna objective: one queued grid point → one training run → its objective metric."""

    def __init__(self, job: WorkerJob, spec: SweepSpec, plugins: Any) -> None:
        self.job = job
        self.spec = spec
        self.plugins = plugins

    def __call__(self, trial: Any) -> float:
        import optuna

        try:
            return self._train(trial)
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:
            _mark(trial, INTERRUPTED_ATTR, True)
            raise
        except Exception as error:
            _mark(trial, ERROR_ATTR, _one_line(error))
            raise

    def _train(self, trial: Any) -> float:
        import optuna

        from energan.trainer import train

        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trials = trial.study.get_trials(deepcopy=False)
        frozen = next(other for other in trials if other.number == trial.number)
        if is_surplus(frozen, trials):
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise optuna.TrialPruned("another trial holds this grid point")
        point = point_id(frozen)
        values = {knob: trial.suggest_categorical(knob, choices) for knob, choices in self.spec.space.items()}
        directory = attempt_directory(self.job, self.spec, point, trial.number)
        trial.set_user_attr("run_dir", str(directory))
        run = train(self.spec.config(values, str(directory.parent), directory.name), plugins=self.plugins)
        if run.status != RunStatus.FINISHED:
            raise PointInterrupted(f"point {point} stopped at step {run.step}")
        key = run.objective.key if run.objective is not None else self.spec.objective
        if key not in run.metrics:
            raise EnerganError(f"the run reported no {key}; its metrics were {sorted(run.metrics)}")
        for name, value in run.metrics.items():  # the score's protocol and companions (real score, classes present, ...)
            if name != key:
                trial.set_user_attr(name, value)
        return run.metrics[key]


def work(job: WorkerJob) -> None:
    """Each family in turn: claim and train points until none is left to claim or run."""
    import torch

    from energan.plugins import load_plugins

    torch.set_num_threads(job.threads)
    storage = open_storage(job.storage, job.heartbeat)
    plugins = load_plugins(job.plugins)  # each point's progress goes to the worker's log, as plain status lines
    parent = os.getppid()
    for spec in job.specs:
        if os.getppid() != parent:
            return  # the command that started this worker is gone: no new family
        _work_family(job, spec, storage, plugins, parent)


def _work_family(job: WorkerJob, spec: SweepSpec, storage: Any, plugins: Any, parent: int) -> None:
    import optuna

    study = open_study(storage, job.sweep, spec)
    objective = PointObjective(job, spec, plugins)
    while os.getppid() == parent:
        board = refresh_queue(study, spec, job.heartbeat)
        if board.queued or board.pending:
            try:
                study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=False)
            except optuna.exceptions.UpdateFinishedTrialError as error:  # taken for dead while still alive
                print(f"energan: warning: {error}; its point was queued again", flush=True)
        elif board.running:
            time.sleep(POLL_SECONDS)  # other workers' points: wait, in case one of them dies
        else:
            return


def refresh_queue(study: Any, spec: SweepSpec, heartbeat: int) -> Board:
    """Fail dead workers' trials, queue the points that need an attempt, and say where things stand."""
    import optuna

    optuna.storages.fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    fail_unstarted(study, trials, grace=2 * GRACE_HEARTBEATS * heartbeat)
    missing = points_to_queue(trials, spec.size)
    if missing:
        enqueue(study, spec, missing)
        trials = study.get_trials(deepcopy=False)
    return read_board(trials, spec.size, spec.higher_is_better)


def worker_main(job: WorkerJob) -> None:
    """Process entry point: output to the worker's log, SIGTERM handled like Ctrl-C."""
    Path(job.log_path).parent.mkdir(parents=True, exist_ok=True)
    log = open(job.log_path, "a", buffering=1)  # noqa: SIM115 - the process's stdout until it exits
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        work(job)
    except KeyboardInterrupt:
        print("worker interrupted; its point will be queued again", flush=True)
    except EnerganError as error:
        print(f"energan: error: {error}", flush=True)
        sys.exit(1)

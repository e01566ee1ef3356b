"""A sweep worker: claims grid points one at a time and trains each as an ordinary energan run.

Workers are separate processes (``energan sweep --workers K`` starts K on this machine; other
machines run the same command against the same storage). A point that raises is recorded as a
failed trial with its error; a point interrupted by Ctrl-C or SIGTERM goes back to the queue; a
point whose worker is killed outright is queued again by the next worker that notices its
missing heartbeat.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from energan.errors import EnerganError
from energan.hookspecs import hookimpl
from energan.sweep.families import SweepSpec
from energan.sweep.study import ERROR_ATTR, SURPLUS_ATTR, is_surplus, open_storage, open_study, read_board

POLL_SECONDS = 2.0
SCORE = "inception_score"


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


class _ScoreRecorder:
    """Observer that keeps the metrics of the run's final evaluation."""

    def __init__(self) -> None:
        self.metrics: dict[str, float] = {}

    @hookimpl
    def on_evaluate(self, run: Any, step: int, metrics: dict[str, float]) -> None:
        self.metrics = dict(metrics)


def point_directory(job: WorkerJob, spec: SweepSpec, grid_id: int) -> Path:
    return Path(job.runs_dir) / "sweeps" / job.sweep / spec.family / f"p{grid_id:04d}"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class PointObjective:
    """Optuna objective: one grid point → one training run → its Inception Score."""

    def __init__(self, job: WorkerJob, spec: SweepSpec, plugins: Any) -> None:
        self.job = job
        self.spec = spec
        self.plugins = plugins
        self.current: int | None = None  # the trial number being trained

    def __call__(self, trial: Any) -> float:
        import optuna

        from energan.trainer import train

        spec = self.spec
        point = {knob: trial.suggest_categorical(knob, values) for knob, values in spec.space.items()}
        trials = trial.study.get_trials(deepcopy=False)
        frozen = next(other for other in trials if other.number == trial.number)
        if is_surplus(frozen, trials, spec.size):
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise optuna.TrialPruned("another trial already holds this grid point")
        grid_id = int(frozen.system_attrs["grid_id"])
        directory = point_directory(self.job, spec, grid_id)
        if directory.exists():  # a killed or interrupted attempt: start the point afresh
            shutil.rmtree(directory)
        trial.set_user_attr("run_dir", str(directory))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        self.current = trial.number
        recorder = _ScoreRecorder()
        self.plugins.manager.register(recorder, name="sweep")
        try:
            config = spec.config(point, str(directory.parent), directory.name)
            run = train(config, plugins=self.plugins)
        except Exception as error:
            trial.set_user_attr(ERROR_ATTR, _one_line(error))
            raise
        finally:
            self.plugins.manager.unregister(recorder)
        if run.status != "finished":
            raise PointInterrupted(f"point {grid_id} stopped at step {run.step}")
        for key in ("inception_score_real", "classifier_test_accuracy"):
            if key in recorder.metrics:
                trial.set_user_attr(key, recorder.metrics[key])
        if SCORE not in recorder.metrics:
            raise EnerganError(f"the run reported no {SCORE}; its metrics were {sorted(recorder.metrics)}")
        return recorder.metrics[SCORE]


def work(job: WorkerJob) -> None:
    """Each family in turn: claim and train points until none is left to claim or run."""
    import torch

    from energan.plugins import load_plugins

    torch.set_num_threads(job.threads)
    storage = open_storage(job.storage, job.heartbeat)
    plugins = load_plugins([*job.plugins, "no:progress"])
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
        optuna.storages.fail_stale_trials(study)
        board = read_board(study.get_trials(deepcopy=False), spec.size)
        if board.claimable:
            try:
                study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=False)
            except KeyboardInterrupt:
                _requeue(study, objective.current)
                raise
        elif board.running:
            time.sleep(POLL_SECONDS)  # other workers' points: wait, in case one of them dies
        else:
            return


def _requeue(study: Any, number: int | None) -> None:
    """Queue the interrupted point again, as a dead worker's point would be."""
    import optuna

    trials = [trial for trial in study.get_trials(deepcopy=False) if trial.number == number]
    if trials and trials[0].state == optuna.trial.TrialState.FAIL and ERROR_ATTR not in trials[0].user_attrs:
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=None)(study, trials[0])


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
        print("worker interrupted; its point was queued again", flush=True)
    except EnerganError as error:
        print(f"energan: error: {error}", flush=True)
        sys.exit(1)

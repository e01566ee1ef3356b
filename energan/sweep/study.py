"""Optuna studies on RDB storage: one study per family, its grid points queued as trials.

How a grid point trains once: every point is queued as a waiting trial carrying its point id
(Optuna's enqueue mechanism on a grid-sampler study; the sampler itself would let two workers draw
the same point, so it only declares the space), and a worker claims a trial by taking it off
the queue, which the storage does atomically (PostgreSQL row locks; SQLite serialised with
``BEGIN IMMEDIATE``). Any duplicate of a point that does slip in (two workers topping up the queue
at once) is caught before training: among the trials holding a point, the lowest number wins and
the others are pruned as *surplus*. A worker that dies stops sending heartbeats; the next worker
to look marks its trial failed, and the point is queued again (at most ``MAX_RETRIES`` times). A
trial interrupted by Ctrl-C or SIGTERM is marked so and queued again without counting as a retry.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import statistics
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from energan.errors import ConfigError
from energan.sweep.families import SweepSpec

SPEC_ATTR = "energan_sweep"
POINT_ATTR = "energan_point"
ERROR_ATTR = "error"
INTERRUPTED_ATTR = "interrupted"
SURPLUS_ATTR = "surplus"
MAX_RETRIES = 2  # attempts lost with their worker before a point counts as failed
SCHEMA_ATTEMPTS = 3
GRACE_HEARTBEATS = 3  # a trial silent this many heartbeats is taken for dead
SQLITE_LOCK_SECONDS = 30


def default_storage(runs_dir: str = "runs") -> str:
    return f"sqlite:///{Path(runs_dir) / 'sweeps' / 'sweeps.db'}"


def open_storage(url: str, heartbeat: int | None = None) -> Any:
    """RDB storage for ``url`` (sqlite:///PATH, postgresql://USER:PASS@HOST/DB), with heartbeats."""
    import optuna
    import sqlalchemy.exc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": SQLITE_LOCK_SECONDS}}  # workers wait for each other's writes
    elif url.startswith(("postgresql", "mysql")):
        engine_kwargs = {"pool_pre_ping": True}
    options = {} if heartbeat is None else {"heartbeat_interval": heartbeat, "grace_period": GRACE_HEARTBEATS * heartbeat}
    try:
        return _rdb_storage(url, engine_kwargs, options)
    except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ArgumentError, sqlalchemy.exc.OperationalError, ImportError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        hint = " (pip install 'energan[sweep]')" if isinstance(error, ImportError) else ""
        raise ConfigError(
            f"cannot open sweep storage {url!r}: {reason}{hint}; valid: sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB"
        ) from None


def _rdb_storage(url: str, engine_kwargs: dict[str, Any], options: dict[str, Any]) -> Any:
    """Optuna's RDBStorage, tried again when another process creates the schema at the same moment."""
    import optuna
    import sqlalchemy.exc

    for attempt in range(1, SCHEMA_ATTEMPTS + 1):
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **options)
            if url.startswith("sqlite"):
                _serialise_sqlite(storage.engine)
            return storage
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError):  # "already exists"
            if attempt == SCHEMA_ATTEMPTS:
                raise
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def _serialise_sqlite(engine: Any) -> None:
    """Make every SQLite transaction take the write lock at BEGIN, so Optuna's read-then-update
    steps (taking a trial off the queue, failing a stale one) are atomic: SQLite ignores FOR UPDATE."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(connection: Any, record: Any) -> None:
        connection.isolation_level = None  # the driver's own BEGIN would be deferred

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the listeners existed


def study_name(sweep: str, family: str) -> str:
    return f"{sweep}/{family}"


def open_study(storage: Any, sweep: str, spec: SweepSpec) -> Any:
    """Create the family's study, or join it; a study made with other settings is an error."""
    import optuna

    from energan.sweep.sampler import QueuedGridSampler

    name = study_name(sweep, spec.family.name)
    sampler = QueuedGridSampler(spec.space, seed=0)
    direction = "maximize" if spec.higher_is_better else "minimize"
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, direction=direction, load_if_exists=True)
    mine = json.loads(json.dumps(spec.to_dict()))
    stored = study.user_attrs.get(SPEC_ATTR)
    if stored is None:
        study.set_user_attr(SPEC_ATTR, mine)
    elif stored != mine:
        differ = sorted(key for key in mine.keys() | stored.keys() if mine.get(key) != stored.get(key))
        raise ConfigError(
            f"study {name!r} already exists with other settings ({', '.join(differ)}): "
            f"stored {', '.join(f'{k}={stored.get(k)!r}' for k in differ)}; pick another --study or match them"
        )
    return study


def sweep_families(storage: Any, sweep: str) -> list[str]:
    """The families that have a study under the sweep name ``sweep``."""
    import optuna

    names = optuna.get_all_study_names(storage)
    return [name.removeprefix(f"{sweep}/") for name in names if name.startswith(f"{sweep}/")]


def point_id(trial: Any) -> int | None:
    """The grid point a trial trains; None for a trial that was not taken from the queue."""
    return trial.system_attrs.get(POINT_ATTR)


def _is_lost(trial: Any) -> bool:
    """A failed attempt with no error and no interruption: its worker died."""
    import optuna

    attrs = trial.user_attrs
    return trial.state == optuna.trial.TrialState.FAIL and ERROR_ATTR not in attrs and INTERRUPTED_ATTR not in attrs


def _holds_point(trial: Any) -> bool:
    """Whether a trial is its point's attempt: queued, running, complete or failed with an error."""
    import optuna

    interrupted = trial.state == optuna.trial.TrialState.FAIL and INTERRUPTED_ATTR in trial.user_attrs
    return not trial.user_attrs.get(SURPLUS_ATTR) and not _is_lost(trial) and not interrupted


def is_surplus(trial: Any, trials: Sequence[Any]) -> bool:
    """Not a queued point, or another trial holds the same point and came first (or is finished)."""
    point = point_id(trial)
    return point is None or any(
        other.number != trial.number
        and point_id(other) == point
        and _holds_point(other)
        and (other.number < trial.number or other.state.is_finished())
        for other in trials
    )


def latest_trials(trials: Sequence[Any]) -> dict[int, Any]:
    """Each grid point's latest attempt (a retry replaces the attempt it retries); surplus ignored."""
    latest: dict[int, Any] = {}
    for trial in trials:
        point = point_id(trial)
        if point is None or trial.user_attrs.get(SURPLUS_ATTR):
            continue
        if point not in latest or trial.number > latest[point].number:
            latest[point] = trial
    return latest


def lost_attempts(trials: Sequence[Any]) -> Counter[int]:
    """Per point, how many attempts died with their worker."""
    return Counter(point_id(trial) for trial in trials if point_id(trial) is not None and _is_lost(trial))


def points_to_queue(trials: Sequence[Any], grid_size: int) -> list[int]:
    """Points with no attempt yet, or whose latest attempt was interrupted or lost (within the retries)."""
    latest, lost = latest_trials(trials), lost_attempts(trials)
    return [point for point in range(grid_size) if point not in latest or (not _holds_point(latest[point]) and lost[point] <= MAX_RETRIES)]


def enqueue(study: Any, spec: SweepSpec, points: Sequence[int]) -> None:
    """Queue grid points as waiting trials carrying their point id and knob values."""
    import optuna

    grid = list(spec.grid.points(spec.family.name))
    distributions = {knob: optuna.distributions.CategoricalDistribution(values) for knob, values in spec.space.items()}
    for point in points:
        params = grid[point]
        study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState.WAITING,
                params=params,
                distributions=distributions,
                system_attrs={POINT_ATTR: point, "fixed_params": params},
            )
        )


def fail_unstarted(study: Any, trials: Sequence[Any], grace: float) -> None:
    """Fail running trials whose worker died before its first heartbeat (they never start training)."""
    import optuna

    now = datetime.datetime.now()
    for trial in trials:
        stuck = trial.state == optuna.trial.TrialState.RUNNING and not trial.user_attrs
        if stuck and trial.datetime_start is not None and (now - trial.datetime_start).total_seconds() > grace:
            with contextlib.suppress(ValueError, RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)


@dataclasses.dataclass(frozen=True)
class Board:
    """Where a family's sweep stands: points done, running, queued (or to be queued again), failed."""

    total: int
    done: int = 0
    running: int = 0
    queued: int = 0
    failed: int = 0
    best: float | None = None
    seconds_per_point: float | None = None

    @property
    def pending(self) -> int:
        """Points with no attempt yet."""
        return self.total - self.done - self.running - self.queued - self.failed

    @property
    def claimable(self) -> bool:
        return self.pending > 0 or self.queued > 0

    @property
    def finished(self) -> bool:
        return self.done + self.failed == self.total


def read_board(trials: Sequence[Any], grid_size: int, higher_is_better: bool = True) -> Board:
    """Each point's state is that of its latest attempt; ``best`` by the objective's direction."""
    import optuna

    State = optuna.trial.TrialState
    latest, lost = latest_trials(trials), lost_attempts(trials)
    complete = [trial for trial in latest.values() if trial.state == State.COMPLETE]
    failed = [p for p, t in latest.items() if t.state == State.FAIL and (ERROR_ATTR in t.user_attrs or lost[p] > MAX_RETRIES)]
    durations = [trial.duration.total_seconds() for trial in complete if trial.duration is not None]  # for the ETA
    running = sum(trial.state == State.RUNNING for trial in latest.values())
    return Board(
        total=grid_size,
        done=len(complete),
        running=running,
        queued=len(latest) - len(complete) - len(failed) - running,  # waiting, or to be queued again
        failed=len(failed),
        best=(max if higher_is_better else min)((trial.value for trial in complete), default=None),
        seconds_per_point=statistics.fmean(durations) if durations else None,
    )

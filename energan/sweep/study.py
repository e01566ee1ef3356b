"""Optuna studies on RDB storage: one study per family, a grid sampler, heartbeats and retries.

How a grid point is trained once: the grid sampler gives trial number k < N (the grid's size)
grid point k, and trial numbers are unique in the storage, so the first N trials cover the grid
with no duplicate by construction. A trial whose worker dies stops sending heartbeats; the next
worker to look marks it failed and queues a retry of the same point
(RetryHeartbeatStaleTrialCallback), which one worker then pops atomically. A retry can take a
number below N; the point it displaces is then picked later by the sampler among the points
nobody has started. Two workers can pick the same point that way, so before training, a trial
that is not a retry checks whether another trial already holds its point (the lower number
wins): if so it is a *surplus* trial, marked and pruned before it trains.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from energan.errors import ConfigError
from energan.sweep.families import SweepSpec

SPEC_ATTR = "energan_sweep"
ERROR_ATTR = "error"
SURPLUS_ATTR = "surplus"
MAX_RETRIES = 2
SCHEMA_ATTEMPTS = 3


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
        engine_kwargs = {"connect_args": {"timeout": 60}}  # workers wait for each other's writes
    elif url.startswith(("postgresql", "mysql")):
        engine_kwargs = {"pool_pre_ping": True}
    options: dict[str, Any] = {}
    if heartbeat is not None:
        options = {
            "heartbeat_interval": heartbeat,
            "grace_period": 3 * heartbeat,
            "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES),
        }
    try:
        return _rdb_storage(url, engine_kwargs, options)
    except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ArgumentError, sqlalchemy.exc.OperationalError, ImportError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        hint = " (pip install 'energan[postgres]')" if isinstance(error, ImportError) else ""
        raise ConfigError(
            f"cannot open sweep storage {url!r}: {reason}{hint}; valid: sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB"
        ) from None


def _rdb_storage(url: str, engine_kwargs: dict[str, Any], options: dict[str, Any]) -> Any:
    """Optuna's RDBStorage, tried again when another process creates the schema at the same moment."""
    import optuna
    import sqlalchemy.exc

    for attempt in range(1, SCHEMA_ATTEMPTS + 1):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **options)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError):  # "already exists"
            if attempt == SCHEMA_ATTEMPTS:
                raise
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def study_name(sweep: str, family: str) -> str:
    return f"{sweep}/{family}"


def open_study(storage: Any, sweep: str, spec: SweepSpec) -> Any:
    """Create the family's study, or join it; a study made with other settings is an error."""
    import optuna

    name = study_name(sweep, spec.family)
    sampler = optuna.samplers.GridSampler(spec.space, seed=0)
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, direction="maximize", load_if_exists=True)
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


def _grid_id(trial: Any, grid_size: int) -> int | None:
    """The grid point a trial trains (None for a trial the sampler has not given one yet)."""
    return trial.system_attrs.get("grid_id", trial.number if trial.number < grid_size else None)


def _holds_point(trial: Any) -> bool:
    """Whether a trial counts as its point's attempt (not surplus, and not an attempt that was killed)."""
    import optuna

    killed = trial.state == optuna.trial.TrialState.FAIL and ERROR_ATTR not in trial.user_attrs
    return not trial.user_attrs.get(SURPLUS_ATTR) and not killed


def is_surplus(trial: Any, trials: Sequence[Any], grid_size: int) -> bool:
    """A trial that is not a retry is surplus when another trial holds its point and came first
    (or is a retry, or is complete)."""
    if "failed_trial" in trial.system_attrs or trial.number < grid_size:
        return False
    point = _grid_id(trial, grid_size)
    return any(
        other.number != trial.number
        and _grid_id(other, grid_size) == point
        and _holds_point(other)
        and (other.number < trial.number or "failed_trial" in other.system_attrs or other.state.is_finished())
        for other in trials
    )


@dataclasses.dataclass(frozen=True)
class Board:
    """Where a family's sweep stands: points done, running, queued for retry, failed, not started."""

    total: int
    done: int = 0
    running: int = 0
    queued: int = 0
    failed: int = 0
    best: float | None = None
    seconds_per_point: float | None = None

    @property
    def pending(self) -> int:
        return self.total - self.done - self.running - self.queued - self.failed

    @property
    def claimable(self) -> bool:
        return self.pending > 0 or self.queued > 0

    @property
    def finished(self) -> bool:
        return self.done + self.failed == self.total


def latest_trials(trials: Sequence[Any], grid_size: int) -> dict[int, Any]:
    """Each grid point's latest trial (a retry replaces the attempt it retries); surplus ignored."""
    latest: dict[int, Any] = {}
    for trial in trials:
        key = _grid_id(trial, grid_size)
        if key is None or trial.user_attrs.get(SURPLUS_ATTR):
            continue
        if key not in latest or trial.number > latest[key].number:
            latest[key] = trial
    return latest


def read_board(trials: Sequence[Any], grid_size: int) -> Board:
    """Each point's state is that of its latest trial."""
    import optuna

    State = optuna.trial.TrialState
    latest = latest_trials(trials, grid_size)
    states = [trial.state for trial in latest.values()]
    complete = [trial for trial in latest.values() if trial.state == State.COMPLETE]
    durations = [trial.duration.total_seconds() for trial in complete if trial.duration is not None]  # for the ETA
    return Board(
        total=grid_size,
        done=len(complete),
        running=states.count(State.RUNNING),
        queued=states.count(State.WAITING),
        failed=states.count(State.FAIL),  # raised, or killed more than MAX_RETRIES times
        best=max((trial.value for trial in complete), default=None),
        seconds_per_point=statistics.fmean(durations) if durations else None,
    )

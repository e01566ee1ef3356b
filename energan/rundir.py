"""A run directory's life: naming a new one, its lock, the checks before training, continuing it,
writing its config, removing a run that never started; and opening a saved run again.

:class:`RunDirectory` owns a training run's directory from the moment it is named to the end of
training (its paths are :class:`energan.runfiles.RunFiles`'); :func:`open_run` reopens a saved
run to sample or evaluate it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from energan.assemble import load_data
from energan.checkpoint import Checkpoint, checkpoint_path, load_checkpoint, save_checkpoint
from energan.config import ResolvedConfig, TrainConfig, TrainSettings, read_run_config, resolve, save_config
from energan.data import DataInfo, DeferredData
from energan.distributed import World
from energan.errors import CheckpointError, ConfigError
from energan.kinds import METRIC
from energan.lock import run_lock
from energan.model import build_model, pick_device
from energan.plugins import Plugins
from energan.records import START, read_records
from energan.registry import Registries
from energan.run import Run
from energan.runfiles import RunFiles
from energan.schedule import lr_factor, set_lr
from energan.state import TrainingState
from energan.status import RunStatus


@dataclasses.dataclass(frozen=True)
class RunDirectory:
    """A training run's directory, new (``resuming`` False) or continued.

    :meth:`opened` is the run's life inside it: under the run's lock (rank 0's: the other ranks
    of a torchrun never write), the checks that the run may start or continue, the restore of
    a continued run's state, and its ``config.toml``; a new run that fails before it saved
    anything leaves no directory behind."""

    files: RunFiles
    resuming: bool

    @classmethod
    def new(cls, config: ResolvedConfig) -> RunDirectory:
        """``runs_dir/name`` for a new run; a name that would leave ``runs_dir`` or a run that
        exists already is refused before anything is built."""
        settings = config.settings
        name = settings.name or "-".join([config.energy.name, config.loss.name, *config.reg, datetime.now().strftime("%Y%m%d-%H%M%S")])
        if name in (".", "..") or "/" in name or "\\" in name or not name.isprintable():
            raise ConfigError(
                f"run name {name!r} must be a single directory name inside runs_dir {settings.runs_dir!r} (no '/', '..', control characters)"
            )
        directory = cls(RunFiles(Path(settings.runs_dir) / name), resuming=False)
        directory._check_new()
        return directory

    @classmethod
    def continued(cls, path: Path) -> RunDirectory:
        """The run in ``path``, to continue; a directory that holds no run is refused."""
        read_run_config(path)
        return cls(RunFiles(Path(path)), resuming=True)

    @property
    def name(self) -> str:
        return self.files.root.name

    @contextlib.contextmanager
    def opened(
        self, config: ResolvedConfig, data: DataInfo, state: TrainingState, plugins: Plugins, world: World, provenance: dict[str, Any]
    ) -> Iterator[Checkpoint | None]:
        """The run opened for training with ``state``: yields the checkpoint it continues from
        (its state already restored into ``state``), or None for a new run."""
        created = not self.files.root.exists()
        try:
            with run_lock(self.files.root) if world.is_main else contextlib.nullcontext():
                saved = self._continue(config, data, state, plugins.registries, world) if self.resuming else self._start(world)
                if world.is_main:
                    versions = {info.name: info.version for info in plugins.info()}
                    save_config(self.files.config, config, versions, provenance)
                yield saved
        except BaseException:
            if world.is_main and created:
                self._remove_if_unstarted()
            raise

    def save(self, checkpoint: Checkpoint, keep: int, best: bool) -> None:
        """Write ``checkpoint`` (and mark it the best), keeping ``keep`` numbered ones."""
        save_checkpoint(self.files, checkpoint, keep, best)

    def _start(self, world: World) -> None:
        if world.is_main:
            self._check_new()  # again, under the lock: no other process can start this run any more

    def _check_new(self) -> None:
        if self.files.started():
            root = self.files.root
            raise CheckpointError(f"run directory {root} already exists; continue it with --resume {root} or pick another --name")

    def _continue(self, config: ResolvedConfig, data: DataInfo, state: TrainingState, registries: Registries, world: World) -> Checkpoint:
        """Check what the resume changes, pick the checkpoint, check its data, restore ``state``."""
        if world.is_main:
            for leftover in self.files.partial_writes():  # a process killed while writing: the files they replace are intact
                leftover.unlink(missing_ok=True)
        check_resume_changes(self.files.root, config, registries)
        saved = load_resumable(self.files)
        if config.settings.steps < saved.step:
            raise ConfigError(f"--resume: steps {config.settings.steps} is below the run's step {saved.step}; valid: {saved.step} or more")
        if saved.data.fingerprint != data.fingerprint:
            raise CheckpointError(
                f"{self.files.root} was trained on dataset {saved.data.key!r} (fingerprint {saved.data.fingerprint}); "
                f"the configured data {data.key!r} differ (fingerprint {data.fingerprint}): resume with the same data"
            )
        restore_training(state, saved, config.settings)
        return saved

    def _remove_if_unstarted(self) -> None:
        """A new run that failed before it logged or saved anything leaves no directory behind
        (its config, its lock and the start line of its metrics are not a run's work)."""
        files = self.files
        if not files.root.is_dir() or not set(files.root.iterdir()) <= {files.config, files.lock, files.metrics}:
            return
        if files.metrics.exists() and any(record["kind"] != START for record in read_records(files.metrics)):
            return
        shutil.rmtree(files.root, ignore_errors=True)


# ---------------------------------------------------------------- continuing a run

# Settings a resume may change: they shape the schedule, the logs or the device, not the state.
CHANGEABLE = (
    "steps", "lr_d", "lr_g", "eval_every", "checkpoint_every", "keep_checkpoints", "log_every",
    "log", "objective", "device", "amp", "compile", "data_dir", "max_energy",
)  # fmt: skip
CHANGEABLE_TABLES = (METRIC.key,)


def _flat(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def check_resume_changes(run_dir: Path, config: ResolvedConfig, registries: Registries) -> None:
    """A resume may change the schedule, logging and metrics; anything else (the nets, the loss,
    the batch, the seed, the optimizers' kind) would continue a different run: one-line error."""
    before = _flat(resolve(TrainConfig.from_dict(read_run_config(run_dir)), registries).to_dict())
    after = _flat(config.to_dict())
    fixed = [
        key
        for key in sorted(before.keys() | after.keys())
        if key not in CHANGEABLE
        and not key.startswith(tuple(f"{table}." for table in CHANGEABLE_TABLES))
        and before.get(key) != after.get(key)
    ]
    if fixed:
        key = fixed[0]
        raise ConfigError(
            f"--resume cannot change {key} ({before.get(key)!r} → {after.get(key)!r}): it is part of the saved run; "
            f"changeable on resume: {', '.join((*CHANGEABLE, *CHANGEABLE_TABLES))}"
        )


def load_resumable(files: RunFiles) -> Checkpoint:
    """``last.pt``, or when it is unreadable the newest intact numbered checkpoint, with a warning
    that says which one and how many steps that loses."""
    try:
        return load_checkpoint(files.last)
    except CheckpointError as error:
        for candidate in reversed(files.history()):
            try:
                fallback = load_checkpoint(candidate)
            except CheckpointError:
                continue
            warnings.warn(f"{error}; resuming from {candidate.name} (step {fallback.step}) instead", stacklevel=2)
            return fallback
        raise


def restore_training(state: TrainingState, saved: Checkpoint, settings: TrainSettings) -> None:
    """The saved weights, optimizer states and RNG streams, then the learning rates of ``settings``
    (a resume with ``--set lr_g=…`` trains on with the new rate)."""
    try:
        state.model.load_state_dict(saved.model)
        state.load_state_dict(saved.training)
    except (RuntimeError, ValueError, KeyError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"the checkpoint at step {saved.step} does not fit the run's config ({reason[:200]})") from None
    factor = lr_factor(saved.step, settings.steps, settings.lr_decay_start)
    set_lr(state.optimizer_g, settings.lr_g, factor)
    set_lr(state.optimizer_d, settings.lr_d, factor)


# ---------------------------------------------------------------- opening a saved run


def open_run(run_dir: Path, plugins: Plugins, checkpoint: str = "last") -> Run:
    """The run in ``run_dir`` with the model of ``checkpoint`` (last, best or a path)."""
    raw = read_run_config(run_dir)
    saved = load_checkpoint(checkpoint_path(run_dir, checkpoint))
    config = resolve(TrainConfig.from_dict(raw), plugins.registries)
    with torch.random.fork_rng(devices=[]):  # initial weights are overwritten: leave the caller's RNG alone
        model = build_model(config, plugins.registries, saved.data.shape, pick_device(config.settings.device))
    try:
        model.load_state_dict(saved.model)
    except RuntimeError as error:  # e.g. config.toml edited after training: other layer sizes
        raise CheckpointError(f"checkpoint of {run_dir} does not fit its config.toml ({str(error).splitlines()[0][:200]})") from None
    return Run(
        name=run_dir.name,
        directory=run_dir,
        config=config,
        data=DeferredData(saved.data, lambda: load_data(config, plugins)),
        model=model,
        start_step=saved.step,
        step=saved.step,
        status=RunStatus.LOADED,
    )

"""The run directory: creating a new one, continuing one, opening a saved one.

A run directory holds ``config.toml`` (the resolved config), ``metrics.jsonl``, ``samples/``,
``curves.png`` and ``checkpoints/``; one process at a time writes it, under its lock
(:mod:`energan.lock`). A new run's directory is named and checked here before anything is built;
``--resume`` checks what may change, picks the checkpoint to continue from and puts the training
state back; :func:`open_run` reopens a saved run to sample or evaluate it.
"""

from __future__ import annotations

import shutil
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from energan.assemble import load_data
from energan.checkpoint import Checkpoint, checkpoint_dir, checkpoint_path, load_checkpoint
from energan.config import RUN_CONFIG, ResolvedConfig, TrainConfig, TrainSettings, read_run_config, resolve
from energan.data import DeferredData
from energan.errors import CheckpointError, ConfigError
from energan.kinds import METRIC
from energan.lock import LOCK_FILE
from energan.model import build_model, pick_device
from energan.plugins import Plugins
from energan.registry import Registries
from energan.run import Run
from energan.schedule import lr_factor, set_lr
from energan.state import TrainingState
from energan.status import RunStatus

# ---------------------------------------------------------------- a new run


def new_run_dir(config: ResolvedConfig) -> Path:
    """``runs_dir/name``; a name that would leave ``runs_dir`` (``../x``, ``a/b``) is refused."""
    settings = config.settings
    name = settings.name or "-".join([config.energy.name, config.loss.name, *config.reg, datetime.now().strftime("%Y%m%d-%H%M%S")])
    if name in (".", "..") or "/" in name or "\\" in name or not name.isprintable():
        raise ConfigError(
            f"run name {name!r} must be a single directory name inside runs_dir {settings.runs_dir!r} (no '/', '..', control characters)"
        )
    return Path(settings.runs_dir) / name


def remove_if_unstarted(run_dir: Path) -> None:
    """A new run that failed before it logged or saved anything leaves no directory behind."""
    if run_dir.is_dir() and {path.name for path in run_dir.iterdir()} <= {RUN_CONFIG, LOCK_FILE}:
        shutil.rmtree(run_dir, ignore_errors=True)


def check_new(run_dir: Path) -> None:
    if (run_dir / "checkpoints").exists():
        raise CheckpointError(f"run directory {run_dir} already exists; continue it with --resume {run_dir} or pick another --name")


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


def load_resumable(run_dir: Path) -> Checkpoint:
    """``last.pt``, or when it is unreadable the newest intact numbered checkpoint, with a warning
    that says which one and how many steps that loses."""
    directory = checkpoint_dir(run_dir)
    try:
        return load_checkpoint(directory / "last.pt")
    except CheckpointError as error:
        for candidate in sorted(directory.glob("step-*.pt"), reverse=True):
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

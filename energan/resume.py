"""Continuing a run: which settings may change, which checkpoint to continue from, and putting
the saved training state back (with the learning rates the resumed config asks for)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from energan.checkpoint import Checkpoint, checkpoint_dir, load_checkpoint
from energan.config import TrainConfig, TrainSettings, read_run_config, resolve
from energan.errors import CheckpointError, ConfigError
from energan.schedule import lr_factor, set_lr
from energan.state import TrainingState

# Settings a resume may change: they shape the schedule, the logs or the device, not the state.
CHANGEABLE = (
    "steps", "lr_d", "lr_g", "eval_every", "checkpoint_every", "keep_checkpoints", "log_every",
    "log", "objective", "device", "amp", "compile", "data_dir", "max_energy",
)  # fmt: skip
CHANGEABLE_TABLES = ("metrics",)


def _flat(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def check_resume_changes(run_dir: Path, config: TrainConfig, registries: Any) -> None:
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
            f"changeable on resume: {', '.join(CHANGEABLE)}, metrics"
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

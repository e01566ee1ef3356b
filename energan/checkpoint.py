"""Checkpoints: the one place that defines their content (versioned), atomic writes, numbered
history, ``best.pt``, and safe (weights-only) loading.

Format 2: ``{"format", "step", "best", "data": DataInfo, "model": Model.state_dict(),
"training": TrainingState.state_dict()}``. The model part alone is enough to sample and evaluate.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Any

import torch

from energan.atomic import write_atomic
from energan.data import DataInfo
from energan.errors import CheckpointError

FORMAT = 2
REQUIRED_KEYS = ("format", "step", "data", "model", "training")
MODEL_KEYS = ("generator", "energy")


@dataclasses.dataclass
class Checkpoint:
    """A run at one step: the model's weights, the training state and the data it was trained on."""

    step: int
    best: float | None
    data: DataInfo
    model: dict[str, Any]
    training: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "step": self.step,
            "best": self.best,
            "data": self.data.to_dict(),
            "model": self.model,
            "training": self.training,
        }


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def checkpoint_path(run_dir: Path, which: str) -> Path:
    """``last``, ``best`` or a path (a run directory means its ``last.pt``)."""
    if which in ("last", "best"):
        return checkpoint_dir(run_dir) / f"{which}.pt"
    path = Path(which)
    return checkpoint_dir(path) / "last.pt" if path.is_dir() else path


def save_checkpoint(run_dir: Path, checkpoint: Checkpoint, keep: int) -> Path:
    """Write ``step-NNNNNNN.pt`` and ``last.pt`` atomically; keep the ``keep`` newest numbered ones."""
    directory = checkpoint_dir(run_dir)
    numbered = directory / f"step-{checkpoint.step:07d}.pt"
    write_atomic(numbered, lambda stream: torch.save(checkpoint.to_dict(), stream))
    write_atomic(directory / "last.pt", lambda stream: stream.write(numbered.read_bytes()))
    history = sorted(directory.glob("step-*.pt"))
    for old in history[: max(len(history) - keep, 0)]:
        old.unlink()
    return directory / "last.pt"


def remove_partial_writes(run_dir: Path) -> None:
    """Delete temporary files left by a process killed while writing (the finished files they
    would have replaced are intact). Only call it while holding the run's lock."""
    for leftover in [*run_dir.glob(".*.tmp"), *checkpoint_dir(run_dir).glob(".*.tmp")]:
        leftover.unlink(missing_ok=True)


def mark_best(run_dir: Path) -> None:
    """Copy ``last.pt`` to ``best.pt`` (atomically)."""
    directory = checkpoint_dir(run_dir)
    write_atomic(directory / "best.pt", lambda stream: stream.write((directory / "last.pt").read_bytes()))


def load_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint with ``weights_only=True``; a missing, corrupt or foreign file, or one of
    another format, is a one-line error."""
    if path.is_dir():
        path = checkpoint_dir(path) / "last.pt"
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # PyTorch's own message would suggest weights_only=False: never repeat that
        unsafe = isinstance(error, pickle.UnpicklingError) and "unsupported global" in str(error).lower()
        why = "it asks to run code, which energan never does" if unsafe else "truncated or garbled"
        raise CheckpointError(f"checkpoint {path} is corrupt or not an energan checkpoint ({why})") from None
    if isinstance(state, dict) and "format" in state and not (type(state["format"]) is int and state["format"] == FORMAT):
        raise CheckpointError(f"checkpoint {path} has format {state['format']!r:.40}; this energan reads format {FORMAT} only")
    missing = [key for key in REQUIRED_KEYS if not isinstance(state, dict) or key not in state]
    if not missing and not isinstance(state["model"], dict):
        raise CheckpointError(f"checkpoint {path} is corrupt (model is a {type(state['model']).__name__}, not a record)")
    missing += [f"model.{key}" for key in MODEL_KEYS if not missing and key not in state["model"]]
    if missing:
        raise CheckpointError(f"checkpoint {path} is not an energan checkpoint (missing {', '.join(missing)})")
    wrong = _wrong_type(state)
    if wrong:
        raise CheckpointError(f"checkpoint {path} is corrupt ({wrong})")
    try:
        data = DataInfo.from_dict(state["data"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path} is corrupt (its data record: {error!r})") from None
    return Checkpoint(state["step"], state.get("best"), data, state["model"], state["training"])


def _wrong_type(state: dict[str, Any]) -> str | None:
    """What in a checkpoint with the right keys has the wrong type, or None."""
    step, best = state["step"], state.get("best")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return f"step {step!r} is not a step number"
    if best is not None and (not isinstance(best, int | float) or isinstance(best, bool)):
        return f"best {best!r} is not a number"
    for key in ("data", "training"):
        if not isinstance(state[key], dict):
            return f"{key} is a {type(state[key]).__name__}, not a record"
    for key in MODEL_KEYS:
        weights = state["model"][key]
        if not isinstance(weights, dict) or not all(isinstance(value, torch.Tensor) for value in weights.values()):
            return f"model.{key} is not a set of tensors"
    return None

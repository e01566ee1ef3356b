"""Checkpoints: the one place that defines their content (versioned), atomic writes, numbered
history, ``best.pt``, and safe (weights-only) loading.

Format 2: ``{"format", "step", "best", "data": DataInfo, "model": Model.state_dict(),
"training": TrainingState.state_dict()}``. The model part alone is enough to sample and evaluate.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from energan.atomic import write_atomic
from energan.data import DataInfo
from energan.errors import CheckpointError
from energan.runfiles import RunFiles

if TYPE_CHECKING:
    from energan.state import TrainingState

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


def checkpoint_of(step: int, best: float | None, data: DataInfo, state: TrainingState) -> Checkpoint:
    """The checkpoint of a training state at ``step``: its model's weights and the rest of the state."""
    return Checkpoint(step, best, data, state.model.state_dict(), state.state_dict())


def checkpoint_path(run_dir: Path, which: str) -> Path:
    """``last``, ``best`` or a path (a run directory means its ``last.pt``)."""
    if which in ("last", "best"):
        return RunFiles(run_dir).last if which == "last" else RunFiles(run_dir).best
    path = Path(which)
    return RunFiles(path).last if path.is_dir() else path


def save_checkpoint(files: RunFiles, checkpoint: Checkpoint, keep: int, best: bool) -> None:
    """Write ``step-NNNNNNN.pt`` and ``last.pt`` (and ``best.pt`` when ``best``) atomically; keep the
    ``keep`` newest numbered ones."""
    numbered = files.numbered(checkpoint.step)
    write_atomic(numbered, lambda stream: torch.save(checkpoint.to_dict(), stream))
    for copy in (files.last, files.best) if best else (files.last,):
        write_atomic(copy, lambda stream: stream.write(numbered.read_bytes()))
    history = files.history()
    for old in history[: max(len(history) - keep, 0)]:
        old.unlink()


def load_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint with ``weights_only=True``; a missing, corrupt or foreign file, or one of
    another format, is a one-line error."""
    if path.is_dir():
        path = RunFiles(path).last
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

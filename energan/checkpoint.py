"""Checkpoints: atomic writes, numbered history, ``best.pt``, safe (weights-only) loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from energan.atomic import write_atomic
from energan.errors import CheckpointError

FORMAT = 1
REQUIRED_KEYS = ("format", "step", "generator", "energy", "optimizer_g", "optimizer_d", "rng")


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def save_checkpoint(run_dir: Path, state: dict[str, Any], keep: int) -> Path:
    """Write ``step-NNNNNNN.pt`` and ``last.pt`` atomically; keep the ``keep`` newest numbered ones."""
    directory = checkpoint_dir(run_dir)
    numbered = directory / f"step-{state['step']:07d}.pt"
    write_atomic(numbered, lambda stream: torch.save({"format": FORMAT, **state}, stream))
    write_atomic(directory / "last.pt", lambda stream: stream.write(numbered.read_bytes()))
    history = sorted(directory.glob("step-*.pt"))
    for old in history[: max(len(history) - keep, 0)]:
        old.unlink()
    return directory / "last.pt"


def mark_best(run_dir: Path) -> None:
    """Copy ``last.pt`` to ``best.pt`` (atomically)."""
    directory = checkpoint_dir(run_dir)
    write_atomic(directory / "best.pt", lambda stream: stream.write((directory / "last.pt").read_bytes()))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; a missing or corrupt file is a clear error."""
    if path.is_dir():
        path = checkpoint_dir(path) / "last.pt"
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"checkpoint {path} is corrupt or not an energan checkpoint ({reason})") from None
    missing = [key for key in REQUIRED_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} is not an energan checkpoint (missing {', '.join(missing)})")
    if state["format"] != FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {state['format']}; this energan reads format {FORMAT}")
    return state

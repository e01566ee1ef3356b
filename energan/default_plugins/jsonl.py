"""Observer: every logged scalar and metric as one JSON line in ``<run>/metrics.jsonl``."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

from energan.atomic import write_atomic
from energan.hookspecs import hookimpl

FILENAME = "metrics.jsonl"


def _append(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as stream:
        stream.write(json.dumps(record) + "\n")


def _step(line: str) -> float | None:
    """The step of a whole record; None for a torn or foreign line."""
    try:
        step = json.loads(line).get("step")
    except (ValueError, AttributeError):
        return None
    return step if isinstance(step, int | float) and not isinstance(step, bool) else None


def _records_up_to(path: Path, last_step: int) -> list[str]:
    """The file's whole records up to ``last_step``; a line cut by a kill or a full disk during an
    append (or any line that is not a record) is dropped with a warning that names it."""
    kept = []
    for number, line in enumerate(path.read_bytes().decode("utf-8", errors="replace").splitlines(), start=1):
        step = _step(line)
        if step is None:
            if line.strip():
                warnings.warn(f"{path}: line {number} is not a whole metrics record ({line[:40]!r}); dropped", stacklevel=2)
            continue
        if step <= last_step:
            kept.append(line)
    return kept


@hookimpl
def on_train_start(run: Any) -> None:
    """On resume, drop the lines past the checkpoint (and torn ones) so the log matches the weights."""
    path = run.directory / FILENAME
    if path.exists():
        text = "".join(line + "\n" for line in _records_up_to(path, run.start_step))
        write_atomic(path, lambda stream: stream.write(text.encode()))  # a kill here loses no line


@hookimpl
def on_log(run: Any, step: int, logs: dict[str, float]) -> None:
    _append(run.directory / FILENAME, {"step": step, "time": time.time(), "kind": "train", **logs})


@hookimpl
def on_evaluate(run: Any, step: int, metrics: dict[str, float]) -> None:
    """``kind`` is ``eval`` during training, ``evaluate`` for ``energan evaluate`` on a saved model."""
    kind = "evaluate" if run.status == "evaluating" else "eval"
    _append(run.directory / FILENAME, {"step": step, "time": time.time(), "kind": kind, **metrics})

"""Observer: every logged scalar and metric as one JSON line in ``<run>/metrics.jsonl``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from energan.atomic import write_atomic
from energan.hookspecs import hookimpl

FILENAME = "metrics.jsonl"


def _append(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as stream:
        stream.write(json.dumps(record) + "\n")


@hookimpl
def on_train_start(run: Any) -> None:
    """On resume, drop the lines past the checkpoint so the log matches the weights."""
    path = run.directory / FILENAME
    if path.exists():
        kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= run.start_step]
        text = "".join(line + "\n" for line in kept)
        write_atomic(path, lambda stream: stream.write(text.encode()))  # a kill here loses no line


@hookimpl
def on_log(run: Any, step: int, logs: dict[str, float]) -> None:
    _append(run.directory / FILENAME, {"step": step, "time": time.time(), "kind": "train", **logs})


@hookimpl
def on_evaluate(run: Any, step: int, metrics: dict[str, float]) -> None:
    """``kind`` is ``eval`` during training, ``evaluate`` for ``energan evaluate`` on a saved model."""
    kind = "evaluate" if run.status == "evaluating" else "eval"
    _append(run.directory / FILENAME, {"step": step, "time": time.time(), "kind": kind, **metrics})

"""Observer: every logged scalar and metric as one JSON line in ``<run>/metrics.jsonl``, after a
``start`` line at each launch (new or resumed) that says how the run is trained (world size, device)."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

from energan.atomic import write_atomic
from energan.hookspecs import hookimpl
from energan.status import RunStatus

FILENAME = "metrics.jsonl"
START = "start"  # the kind of the line each launch begins with: the run's provenance, no values


def _append(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as stream:
        stream.write(json.dumps(record) + "\n")


def _record(line: str) -> dict[str, Any] | None:
    """The record on a line, or None for a torn, garbled or foreign one."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
        return None
    step = record.get("step")
    return record if isinstance(step, int | float) and not isinstance(step, bool) else None


def read_records(path: Path) -> list[dict[str, Any]]:
    """The whole records of a ``metrics.jsonl``, in file order. A line that is not one (cut by a
    kill or a full disk during an append, garbled, not UTF-8) is dropped with a warning naming it."""
    records = []
    for number, line in enumerate(path.read_bytes().decode("utf-8", errors="replace").splitlines(), start=1):
        record = _record(line)
        if record is not None:
            records.append(record)
        elif line.strip():
            warnings.warn(f"{path}: line {number} is not a whole metrics record ({line[:40]!r}); dropped", stacklevel=2)
    return records


def _kept(record: dict[str, Any], start_step: int) -> bool:
    """Whether a resume at ``start_step`` keeps ``record``: the lines up to the checkpoint, but
    not the start line of an earlier launch from that same step, whose lines are all cut."""
    return record["step"] < start_step or (record["step"] == start_step and record["kind"] != START)


@hookimpl
def on_train_start(run: Any) -> None:
    """On resume, drop the lines past the checkpoint (and torn ones) so the log matches the weights;
    then a ``start`` line with how this launch trains (``run.provenance``)."""
    path = run.directory / FILENAME
    if path.exists():
        text = "".join(json.dumps(record) + "\n" for record in read_records(path) if _kept(record, run.start_step))
        write_atomic(path, lambda stream: stream.write(text.encode()))  # a kill here loses no line
    _append(path, {"step": run.start_step, "time": time.time(), "kind": START, **run.provenance})


@hookimpl
def on_log(run: Any, step: int, logs: dict[str, float]) -> None:
    _append(run.directory / FILENAME, {"step": step, "time": time.time(), "kind": "train", **logs})


@hookimpl
def on_evaluate(run: Any, step: int, metrics: dict[str, float]) -> None:
    """``kind`` is ``eval`` during training, ``evaluate`` for ``energan evaluate`` on a saved model."""
    kind = "evaluate" if run.status == RunStatus.EVALUATING else "eval"
    _append(run.directory / FILENAME, {"step": step, "time": time.time(), "kind": kind, **metrics})

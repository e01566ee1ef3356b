"""Observer: every logged scalar and metric as one JSON line in ``<run>/metrics.jsonl``, after a
``start`` line at each launch (new or resumed) that says how the run is trained (world size, device)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from energan.atomic import write_atomic
from energan.hookspecs import hookimpl
from energan.records import START, read_records
from energan.status import RunStatus


def _append(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as stream:
        stream.write(json.dumps(record) + "\n")


def _kept(record: dict[str, Any], start_step: int) -> bool:
    """Whether a resume at ``start_step`` keeps ``record``: the lines up to the checkpoint, but
    not the start line of an earlier launch from that same step, whose lines are all cut."""
    return record["step"] < start_step or (record["step"] == start_step and record["kind"] != START)


@hookimpl
def on_train_start(run: Any) -> None:
    """On resume, drop the lines past the checkpoint (and torn ones) so the log matches the weights;
    then a ``start`` line with how this launch trains (``run.provenance``)."""
    path = run.files.metrics
    if path.exists():
        text = "".join(json.dumps(record) + "\n" for record in read_records(path) if _kept(record, run.start_step))
        write_atomic(path, lambda stream: stream.write(text.encode()))  # a kill here loses no line
    _append(path, {"step": run.start_step, "time": time.time(), "kind": START, **run.provenance})


@hookimpl
def on_log(run: Any, step: int, logs: dict[str, float]) -> None:
    _append(run.files.metrics, {"step": step, "time": time.time(), "kind": "train", **logs})


@hookimpl
def on_evaluate(run: Any, step: int, metrics: dict[str, float]) -> None:
    """``kind`` is ``eval`` during training, ``evaluate`` for ``energan evaluate`` on a saved model."""
    kind = "evaluate" if run.status == RunStatus.EVALUATING else "eval"
    _append(run.files.metrics, {"step": step, "time": time.time(), "kind": kind, **metrics})

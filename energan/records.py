"""A run's ``metrics.jsonl`` read back: one JSON record a line, torn or garbled lines dropped.

The ``jsonl`` observer writes it; the curves, ``energan plot`` and the sweep read it here.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

START = "start"  # the kind of the line each launch begins with: the run's provenance, no values
SPEED = ("it_per_s", "data_wait")  # logged values that measure the machine, not training: they differ between equal runs


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

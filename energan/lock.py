"""One process per run: an OS file lock on ``<run>/.lock`` that dies with its holder (kill -9
leaves no stale lock), with the holder's PID written inside for the error message."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from energan.errors import CheckpointError

LOCK_FILE = ".lock"


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run's lock for the ``with`` block; a run another process holds is a one-line error."""
    import fcntl  # POSIX; energan's supported platforms (Linux, macOS) have it

    run_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            raise CheckpointError(f"run {run_dir} is in use by process {holder}; wait for it to finish or stop it first") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock (so does the process's death)

"""OS file locks that die with their holder (kill -9 leaves no stale lock), with the holder's PID
written inside for messages: one process per run, and one fit per cached classifier."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from energan.errors import CheckpointError
from energan.runfiles import RunFiles

PID_WIDTH = 20  # the PID is written right-aligned in a fixed width, so one write replaces it whole


def _holder(descriptor: int) -> str:
    """The holder's PID. It writes it just after taking the lock, so a file still empty in that
    instant is read again, for at most half a second."""
    for _ in range(50):
        text = os.pread(descriptor, 64, 0).decode(errors="replace").strip()
        if text:
            return text
        time.sleep(0.01)
    return "unknown"


@contextlib.contextmanager
def file_lock(path: Path, busy: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block. When another
    holder has it, ``busy(holder's PID)`` is called first: it raises to give up, or returns to wait.

    flock locks belong to an open file description, so two threads of one process exclude each
    other too."""
    import fcntl  # POSIX; energan's supported platforms (Linux, macOS) have it

    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        holder: str | None = None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(descriptor)
        if holder is not None:  # outside the except: what busy raises carries no lock-error context
            busy(holder)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        os.pwrite(descriptor, f"{os.getpid():>{PID_WIDTH}}\n".encode(), 0)  # never empty once written
        os.ftruncate(descriptor, PID_WIDTH + 1)
        yield
    finally:
        os.close(descriptor)  # releases the lock (so does the process's death)


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run's lock for the ``with`` block; a run another process holds is a one-line error."""

    def refuse(holder: str) -> None:
        raise CheckpointError(f"run {run_dir} is in use by process {holder}; wait for it to finish or stop it first")

    with file_lock(RunFiles(run_dir).lock, busy=refuse):
        yield

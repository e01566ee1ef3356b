"""A run's status: what it is doing, or how its training ended. Light to import (no torch), so
observers and commands can compare against it anywhere."""

from __future__ import annotations

import enum


class RunStatus(enum.StrEnum):
    """What a run is doing, or how its training ended (a string: ``run.status == "finished"`` holds)."""

    RUNNING = "running"  # training
    FINISHED = "finished"  # trained to its last step
    STOPPED = "stopped"  # asked to stop before its last step (early stopping, Ctrl-C, SIGTERM): checkpointed, resumable
    INTERRUPTED = "interrupted"  # a second Ctrl-C ended it at once
    DIVERGED = "diverged"  # a non-finite loss or an exploding energy ended it
    FAILED = "failed"  # an error ended it
    LOADED = "loaded"  # a saved run opened to sample or evaluate, not training
    EVALUATING = "evaluating"  # energan evaluate is scoring a saved run

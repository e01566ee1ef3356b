"""Every path inside a run directory: the one place that knows its layout.

::

    runs/<name>/
      config.toml         the resolved config, with the plugins' versions and the run's provenance
      metrics.jsonl       a line per log, evaluation and launch
      samples/            step-NNNNNNN.png, a grid at every evaluation
      curves.png          the training curves
      tensorboard/        events, with --log tensorboard
      scores/             energan score's energies of an input (INPUT-NAME.csv) and its grids
      checkpoints/        last.pt, best.pt, step-NNNNNNN.pt (the newest keep_checkpoints)
      .lock               held by the process that trains the run

Observers, commands and the sweep ask a run's :class:`RunFiles` for a path; the run's life (lock,
checks, clean-up) is :class:`energan.rundir.RunDirectory`'s.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

CONFIG = "config.toml"  # its presence makes a directory a run's
STEP_DIGITS = 7


@dataclasses.dataclass(frozen=True)
class RunFiles:
    """The paths of the run directory ``root``."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def curves(self) -> Path:
        return self.root / "curves.png"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def scores(self) -> Path:
        return self.root / "scores"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    def sample_grid(self, step: int) -> Path:
        return self.samples / f"step-{step:0{STEP_DIGITS}d}.png"

    def sample_grids(self) -> list[Path]:
        """The sample grids written so far, oldest first."""
        return sorted(self.samples.glob("step-*.png"))

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    def numbered(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:0{STEP_DIGITS}d}.pt"

    def history(self) -> list[Path]:
        """The numbered checkpoints, oldest first."""
        return sorted(self.checkpoints.glob("step-*.pt"))

    def partial_writes(self) -> list[Path]:
        """Temporary files of atomic writes a killed process left (:mod:`energan.atomic`)."""
        return [*self.root.glob(".*.tmp"), *self.checkpoints.glob(".*.tmp")]

    def is_run(self) -> bool:
        return self.config.is_file()

    def started(self) -> bool:
        """Whether the run has trained: a checkpoint directory exists."""
        return self.checkpoints.exists()

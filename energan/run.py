"""What observers see of a run: its identity, progress, model and data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import Tensor, nn

from energan.config import ResolvedConfig
from energan.data import DataSource
from energan.metrics.scoring import Objective
from energan.model import Model
from energan.runfiles import RunFiles
from energan.status import RunStatus
from energan.streams import Stream, stream_seed


@dataclasses.dataclass
class Run:
    """A training run, or a saved one opened again; ``status`` says which (:class:`RunStatus`)."""

    name: str
    directory: Path
    config: ResolvedConfig
    data: DataSource
    model: Model
    start_step: int
    step: int = 0
    status: RunStatus = RunStatus.RUNNING
    stop_requested: bool = False
    stop_signal: int | None = None  # the signal that asked the run to stop (SIGINT, SIGTERM), if one did
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)  # the latest evaluation's values
    objective: Objective | None = None  # the metric value that ranks checkpoints
    provenance: dict[str, int | str] = dataclasses.field(default_factory=dict)  # world size, device (energan.distributed.provenance)

    @property
    def files(self) -> RunFiles:
        """Every path inside the run's directory."""
        return RunFiles(self.directory)

    @property
    def steps(self) -> int:
        return self.config.settings.steps

    @property
    def generator(self) -> nn.Module:
        return self.model.generator

    @property
    def energy(self) -> nn.Module:
        return self.model.energy

    @property
    def device(self) -> torch.device:
        return self.model.device

    def request_stop(self) -> None:
        """Stop after the current step, with a checkpoint (early stopping, Ctrl-C)."""
        self.stop_requested = True

    def sample(self, n: int, seed: int | None = None) -> Tensor:
        """n images from the (EMA) generator; same seed → same z (default: the run's sample seed)."""
        return self.model.sample(n, stream_seed(self.config.settings.seed, Stream.SAMPLES) if seed is None else seed)

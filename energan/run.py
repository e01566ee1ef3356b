"""What observers see of a run: its identity, progress and models."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from energan.config import TrainConfig
from energan.data import ImageData

SAMPLE_SEED_OFFSET = 2


@dataclasses.dataclass
class Run:
    """A training run. ``status``: running, finished, stopped, interrupted, diverged or failed."""

    name: str
    directory: Path
    config: TrainConfig
    data: ImageData
    generator: nn.Module
    energy: nn.Module
    device: torch.device
    start_step: int
    step: int = 0
    status: str = "running"
    sampler: nn.Module | None = None  # the EMA generator when enabled
    stop_requested: bool = False
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)  # observers' per-run state

    @property
    def steps(self) -> int:
        return self.config.settings.steps

    def request_stop(self) -> None:
        """Stop after the current step, with a checkpoint (early stopping, Ctrl-C)."""
        self.stop_requested = True

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> Tensor:
        """n images from a seeded z (same seed → same z), in eval mode; training RNG untouched."""
        model = self.sampler or self.generator
        seed = self.config.settings.seed + SAMPLE_SEED_OFFSET if seed is None else seed
        latent = torch.Generator().manual_seed(seed)
        was_training = model.training
        model.eval()
        try:
            sizes = [min(500, n - start) for start in range(0, n, 500)]
            chunks = [
                model(torch.randn(size, model.latent_dim, generator=latent).to(self.device)).float().cpu()
                for size in sizes
            ]
        finally:
            model.train(was_training)
        return torch.cat(chunks)

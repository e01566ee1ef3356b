"""The energy of each image: what ``energan score`` writes and what the detection metric ranks."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from energan.data import LazyImages, unit_range

CHUNK = 256  # images per forward: a few MB of activations for the shipped nets at 28 px, ~1 GB at 256 px


@torch.no_grad()
def image_energies(
    energy: nn.Module,
    images: Tensor | LazyImages,
    device: torch.device,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
) -> Tensor:
    """s(x) of every image of ``images`` ([N, C, H, W], uint8 pixels or floats in [-1, 1]), in eval
    mode (batch-norm's running statistics, no dropout), as float64 [N] on the CPU; ``chunk`` images
    per forward, ``progress(n)`` after each chunk of n images. The energy's mode is restored."""
    was_training = energy.training
    energy.eval()
    try:
        scored = []
        for start in range(0, len(images), chunk):
            batch = unit_range(images[torch.arange(start, min(start + chunk, len(images)))].to(device))
            scored.append(energy(batch).energy.detach().to(torch.float64).cpu())
            if progress is not None:
                progress(len(batch))
        return torch.cat(scored) if scored else torch.zeros(0, dtype=torch.float64)
    finally:
        energy.train(was_training)

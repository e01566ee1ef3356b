"""Whether the energy generalises: its energy of training digits, held-out digits and samples.

An energy that memorises a small training set gives held-out real images the energy of the
generator's samples; the generator then has nothing left to learn from it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from energan.data import DataSource, ImageData

IMAGES = 1000  # per kind
KINDS = ("train", "heldout", "samples")
KEYS = tuple(f"energy_{kind}" for kind in KINDS)  # what each evaluation logs
CHUNK = 250


@torch.no_grad()
def energy_gap(energy: nn.Module, data: ImageData, sample: Callable[[int], Tensor], device: torch.device) -> dict[str, float]:
    """Mean energy (eval mode) of the first 1 000 training images, of as many held-out ones and of as
    many samples: ``energy_train``, ``energy_heldout``, ``energy_samples``; {} without a test split."""
    if data.test_images is None:
        return {}
    count = min(IMAGES, len(data.train_images), len(data.test_images))
    first = torch.arange(count)
    images = (data.train_images[first], data.test_images[first], sample(count))
    was_training = energy.training
    energy.eval()
    try:
        return {key: _mean_energy(energy, batch, device) for key, batch in zip(KEYS, images, strict=True)}
    finally:
        energy.train(was_training)


class HeldoutEnergy:
    """The energy of training digits, held-out digits and samples, as a metric of the run's energy:
    the trainer evaluates it with the configured metrics, after them, at every evaluation. It
    ranks nothing (a run's objective is one of its configured metrics)."""

    name = KEYS[1]
    higher_is_better = False
    requires: frozenset[str] = frozenset()  # without a test split it reports nothing

    def __init__(self, energy: nn.Module, device: torch.device) -> None:
        self.energy, self.device = energy, device

    def prepare(self, data: DataSource) -> None:
        """Nothing to build: the energy is the run's own."""

    def evaluate(self, generate: Callable[[int], Tensor], data: DataSource, final: bool) -> dict[str, float]:
        return energy_gap(self.energy, data.load(), generate, self.device)


def _mean_energy(energy: nn.Module, images: Tensor, device: torch.device) -> float:
    chunks = [energy(chunk.to(device).float()).energy.float().sum() for chunk in images.split(CHUNK)]
    return float(torch.stack(chunks).sum()) / len(images)

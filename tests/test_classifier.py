"""The dataset classifier's accuracy: batched, exact, and defined on an empty split."""

from __future__ import annotations

import math

import torch
from torch import nn

from energan.metrics.classifier import accuracy


class ArgmaxOfPixels(nn.Module):
    """Predicts the class whose pixel (of the first row) is brightest: accuracy is known by construction."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images[:, 0, 0, :3]


def test_accuracy_is_the_same_in_any_batch_size() -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(10, 1, 4, 4, generator=generator)
    truth = images[:, 0, 0, :3].argmax(dim=1)
    labels = torch.where(torch.arange(10) < 7, truth, (truth + 1) % 3)  # the last 3 are wrong
    for batch_size in (1, 3, 10, 1000):
        assert accuracy(ArgmaxOfPixels(), images, labels, batch_size=batch_size) == 0.7


def test_accuracy_of_an_empty_split_is_nan() -> None:
    assert math.isnan(accuracy(ArgmaxOfPixels(), torch.zeros(0, 1, 4, 4), torch.zeros(0, dtype=torch.long)))

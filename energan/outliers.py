"""The built-in outlier sets: noise, the run's own samples, held-out images transformed, and another
dataset brought to the held-out images' [C, H, W].

Each returns as many images as the held-out set, floats in [-1, 1]; the detection metric
(:mod:`energan.metrics.ood`) compares the energy of each set with the held-out images'.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import Tensor

from energan.data import ImageData, unit_range
from energan.data.fit import fitted
from energan.errors import DataError

Transform = Callable[[Tensor], Tensor]


@dataclasses.dataclass(frozen=True)
class UniformNoise:
    """Pixels drawn independently and uniformly from [-1, 1]."""

    def images(self, heldout: Tensor, generate: Callable[[int], Tensor], rng: torch.Generator) -> Tensor:
        return torch.rand(heldout.shape, generator=rng).mul_(2).sub_(1).to(heldout.device)


@dataclasses.dataclass(frozen=True)
class GaussianNoise:
    """Pixels drawn independently from N(mean, std²), clipped to [-1, 1]."""

    mean: float
    std: float

    def images(self, heldout: Tensor, generate: Callable[[int], Tensor], rng: torch.Generator) -> Tensor:
        noise = torch.randn(heldout.shape, generator=rng).mul_(self.std).add_(self.mean)
        return noise.clamp_(-1.0, 1.0).to(heldout.device)


@dataclasses.dataclass(frozen=True)
class OwnSamples:
    """As many of the run's generated samples: how far the energy still tells them from data."""

    def images(self, heldout: Tensor, generate: Callable[[int], Tensor], rng: torch.Generator) -> Tensor:
        return generate(len(heldout)).float().to(heldout.device)


@dataclasses.dataclass(frozen=True)
class Transformed:
    """The held-out images themselves, each transformed: near outliers, the same pixels' statistics
    in another arrangement."""

    transform: Transform

    def images(self, heldout: Tensor, generate: Callable[[int], Tensor], rng: torch.Generator) -> Tensor:
        return self.transform(heldout)


def inverted(images: Tensor) -> Tensor:
    """Colours inverted: x ↦ −x in [-1, 1] (black digits on white)."""
    return images.neg()


def rotated(quarter_turns: int) -> Transform:
    """Rotated by ``quarter_turns`` × 90° counter-clockwise."""
    return lambda images: torch.rot90(images, quarter_turns, dims=(2, 3))


def shifted(fraction: float) -> Transform:
    """Shifted right and down by ``fraction`` of the side, the vacated rows and columns filled with
    each image's corner pixel (the background)."""

    def shift(images: Tensor) -> Tensor:
        height, width = images.shape[2:]
        down, right = round(fraction * height), round(fraction * width)
        moved = images[:, :, :1, :1].expand_as(images).clone()
        moved[:, :, down:, right:] = images[:, :, : height - down, : width - right]
        return moved

    return shift


def blurred(sigma: float) -> Transform:
    """Gaussian blur of standard deviation ``sigma`` pixels (kernel of ±3σ, borders reflected)."""

    def blur(images: Tensor) -> Tensor:
        from torchvision.transforms.functional import gaussian_blur

        side = 2 * max(1, round(3 * sigma)) + 1
        return gaussian_blur(images, [side, side], [sigma, sigma])

    return blur


@dataclasses.dataclass(frozen=True)
class OtherDataset:
    """Images of another dataset (training then test split), resized to the held-out images' side
    (bilinear, antialiased) and brought to their channels (grey ↔ colour)."""

    data: ImageData

    def images(self, heldout: Tensor, generate: Callable[[int], Tensor], rng: torch.Generator) -> Tensor:
        splits = [self.data.train_images[torch.arange(len(self.data.train_images))]]
        if self.data.test_images is not None:
            splits.append(self.data.test_images)
        pool = torch.cat([unit_range(split) for split in splits])
        if len(pool) < len(heldout):
            raise DataError(
                f"outlier set of dataset {self.data.key!r} holds {len(pool)} images, fewer than the {len(heldout)} held-out "
                "images it is compared with; valid: a dataset of at least as many, or fewer held-out images (metrics.ood.images)"
            )
        chosen = pool[torch.randperm(len(pool), generator=rng)[: len(heldout)]]
        return fitted(chosen, tuple(heldout.shape[1:])).to(heldout.device)

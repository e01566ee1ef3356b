"""The built-in outlier sets of the detection metric (``--metric ood``): noise, the run's samples,
held-out images transformed, another dataset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class GaussianParams:
    mean: float = param(0.0, "mean of the pixels, in [-1, 1] units")
    std: float = param(0.5, "standard deviation of the pixels, in [-1, 1] units (clipped to [-1, 1] after)", low=1e-6)


@dataclass(frozen=True)
class RotatedParams:
    quarter_turns: int = param(1, "rotation, in quarter turns counter-clockwise", choices=(1, 2, 3))


@dataclass(frozen=True)
class ShiftedParams:
    fraction: float = param(0.25, "shift right and down, as a fraction of the side (the background fills in)", low=0.01, high=0.99)


@dataclass(frozen=True)
class BlurredParams:
    sigma: float = param(1.0, "standard deviation of the Gaussian blur, in pixels", low=0.1, high=32.0)


@dataclass(frozen=True)
class DatasetParams:
    name: str = param("digits", "a registered dataset (default parameters), resized to the held-out images' side and channels")


def build_uniform(datasets: Callable[[str], Any]) -> Any:
    """Uniform noise: every pixel independently in [-1, 1]."""
    from energan.outliers import UniformNoise

    return UniformNoise()


def build_gaussian(params: GaussianParams, datasets: Callable[[str], Any]) -> Any:
    """Gaussian noise: every pixel independently from N(mean, std²), clipped to [-1, 1]."""
    from energan.outliers import GaussianNoise

    return GaussianNoise(params.mean, params.std)


def build_samples(datasets: Callable[[str], Any]) -> Any:
    """The run's own generated samples."""
    from energan.outliers import OwnSamples

    return OwnSamples()


def build_inverted(datasets: Callable[[str], Any]) -> Any:
    """The held-out images with their colours inverted (x ↦ −x)."""
    from energan.outliers import Transformed, inverted

    return Transformed(inverted)


def build_rotated(params: RotatedParams, datasets: Callable[[str], Any]) -> Any:
    """The held-out images rotated by quarter turns."""
    from energan.outliers import Transformed, rotated

    return Transformed(rotated(params.quarter_turns))


def build_shifted(params: ShiftedParams, datasets: Callable[[str], Any]) -> Any:
    """The held-out images shifted right and down by a fraction of their side."""
    from energan.outliers import Transformed, shifted

    return Transformed(shifted(params.fraction))


def build_blurred(params: BlurredParams, datasets: Callable[[str], Any]) -> Any:
    """The held-out images blurred by a Gaussian of sigma pixels."""
    from energan.outliers import Transformed, blurred

    return Transformed(blurred(params.sigma))


def build_dataset(params: DatasetParams, datasets: Callable[[str], Any]) -> Any:
    """Another registered dataset's images (e.g. scikit-learn's 8×8 digits against MNIST), brought to the held-out images' size."""
    from energan.outliers import OtherDataset

    return OtherDataset(datasets(params.name))


@hookimpl
def register_outlier_sets(register: Register) -> None:
    register("uniform", build_uniform)
    register("gaussian", build_gaussian, params=GaussianParams)
    register("samples", build_samples)
    register("inverted", build_inverted)
    register("rotated", build_rotated, params=RotatedParams)
    register("shifted", build_shifted, params=ShiftedParams)
    register("blurred", build_blurred, params=BlurredParams)
    register("dataset", build_dataset, params=DatasetParams)

"""The 2-D mixtures ring8 and grid25, and the mode-coverage metric that scores them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class MixtureParams:
    points: int = param(50_000, "training samples drawn once from the mixture", low=2)
    std: float = param(0.0, "std of each Gaussian in the literature's units (0: 0.02 for ring8, 0.05 for grid25)", low=0.0)
    seed: int = param(0, "seed of the drawn samples", low=0)


def _builder(name: str) -> Any:
    def build(params: MixtureParams, data_dir: str | None) -> Any:
        from energan.data.mixtures import PAPER_STD, load_mixture

        return load_mixture(name, params.points, params.std or PAPER_STD[name], params.seed)

    build.__doc__ = {
        "ring8": "8 Gaussians on a circle of radius 2 (std 0.02), scaled into [-1, 1]; 2-D points",
        "grid25": "25 Gaussians on the grid {-4,-2,0,2,4}² (std 0.05), scaled into [-1, 1]; 2-D points",
    }[name]
    return build


@dataclass(frozen=True)
class ModeCoverageParams:
    samples: int = param(2500, "generated samples scored", low=1)
    sigmas: float = param(3.0, "a sample within this many stds of its nearest mode is high quality", low=0.0)
    min_samples: int = param(20, "high-quality samples a mode needs to count as covered", low=1)


def build_mode_coverage(params: ModeCoverageParams) -> Any:
    """Modes covered and the share of high-quality samples (within 3σ of a mode)."""
    from energan.metrics.modes import ModeCoverage

    return ModeCoverage(params.samples, params.sigmas, params.min_samples)


@hookimpl
def register_datasets(register: Register) -> None:
    register("ring8", _builder("ring8"), params=MixtureParams)
    register("grid25", _builder("grid25"), params=MixtureParams)


@hookimpl
def register_metrics(register: Register) -> None:
    register("mode_coverage", build_mode_coverage, params=ModeCoverageParams)

"""Mode coverage for synthetic mixtures: how many modes the samples reach, and how cleanly."""

from __future__ import annotations

from collections.abc import Callable

import torch
from einops import rearrange
from torch import Tensor

from energan.data import DataSource
from energan.errors import DataError


def mode_statistics(samples: Tensor, modes: Tensor, std: float, sigmas: float, min_samples: int) -> dict[str, float]:
    """A sample is high quality when within ``sigmas``·std of its nearest mode; a mode is covered
    when at least ``min_samples`` high-quality samples sit at it.
    """
    distances = torch.cdist(samples.double(), modes.double())  # [N, K]
    nearest, which = distances.min(dim=1)
    good = nearest <= sigmas * std
    counts = torch.bincount(which[good], minlength=len(modes))
    return {
        "modes_covered": float((counts >= min_samples).sum()),
        "modes_total": float(len(modes)),
        "high_quality_share": float(good.double().mean()),
    }


class ModeCoverage:
    """Modes covered and the share of high-quality samples, for data that declares its modes."""

    name = "modes_covered"
    higher_is_better = True
    requires = frozenset({"modes"})

    def __init__(self, samples: int, sigmas: float, min_samples: int) -> None:
        self.samples, self.sigmas, self.min_samples = samples, sigmas, min_samples

    def prepare(self, data: DataSource) -> None:
        """Nothing to build: the modes come with the data."""

    def evaluate(self, generate: Callable[[int], Tensor], source: DataSource, final: bool = True) -> dict[str, float]:
        data = source.load()  # a synthetic mixture: generated in memory, never read from disk
        if data.modes is None or data.mode_std is None:
            raise DataError(f"dataset {data.key!r} declares no modes: mode_coverage needs a synthetic mixture (ring8, grid25)")
        samples = rearrange(generate(self.samples).float().cpu(), "n ... -> n (...)")
        return mode_statistics(samples, data.modes, data.mode_std, self.sigmas, self.min_samples)

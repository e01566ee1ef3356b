"""Metrics as the trainer and the sweep use them: built, checked against their contract and the
data, one of them the objective that ranks checkpoints; evaluated without touching training RNG."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor, nn

from energan.components import EnergyMetric, Metric, OutlierSet, RunEnergy
from energan.data import DataSource, ImageData
from energan.errors import ConfigError, DataError, PluginError
from energan.kinds import METRIC

if TYPE_CHECKING:
    from energan.config import Resolved
    from energan.registry import Registries

REQUIREMENTS: dict[str, Callable[[ImageData], bool]] = {
    "labels": lambda data: data.train_labels is not None and data.num_classes is not None,
    "test_split": lambda data: data.test_images is not None,
    "modes": lambda data: data.modes is not None and data.mode_std is not None,
}


@dataclasses.dataclass(frozen=True)
class Objective:
    """The value that ranks checkpoints or sweep points: a metric's headline key and direction."""

    key: str
    higher_is_better: bool

    def better(self, value: float, than: float | None) -> bool:
        return than is None or (value > than if self.higher_is_better else value < than)


def build_metrics(chosen: Mapping[str, Resolved], registries: Registries) -> dict[str, Metric]:
    """Each metric of ``chosen`` (name → resolved parameters), checked against the Metric protocol
    as every component is against its kind's (and against EnergyMetric, where it requires the energy)."""
    metrics = {name: resolved.build(registries, METRIC) for name, resolved in chosen.items()}
    for name, metric in metrics.items():
        if ENERGY in metric.requires and not isinstance(metric, EnergyMetric):
            raise PluginError(
                f"metric {name!r} requires the energy but has no attach(run): it does not follow energan.components.EnergyMetric"
            )
    return metrics


def attach_energy(
    metrics: dict[str, Metric], energy: nn.Module, device: torch.device, outlier_sets: Callable[[], dict[str, OutlierSet]]
) -> None:
    """Hand the run's energy and its outlier sets (built only when a metric requires the energy) to
    the metrics that require it."""
    wanting = [metric for metric in metrics.values() if ENERGY in metric.requires]
    if wanting:
        run = RunEnergy(energy, device, outlier_sets())
        for metric in wanting:
            cast(EnergyMetric, metric).attach(run)


ENERGY = "energy"  # what a metric of the run's energy requires (:class:`EnergyMetric`)


def check_requirements(metrics: dict[str, Metric], data: ImageData) -> None:
    """Before training: every metric's needs are met by the data (not at the first evaluation)."""
    for name, metric in metrics.items():
        for need in sorted(metric.requires - {ENERGY}):
            if need not in REQUIREMENTS:
                raise ConfigError(f"metric {name!r} requires {need!r}; known requirements: {', '.join([*REQUIREMENTS, ENERGY])}")
            if not REQUIREMENTS[need](data):
                raise DataError(
                    f"metric {name!r} needs {need.replace('_', ' ')} but dataset {data.key!r} has none; choose another --metric"
                )


def objective(metrics: dict[str, Metric], wanted: str) -> Objective | None:
    """The metric called ``wanted`` (registered name or headline key; default the first), or None
    when there are no metrics."""
    if not wanted:
        first = next(iter(metrics.values()), None)
        return Objective(first.name, first.higher_is_better) if first is not None else None
    for name, metric in metrics.items():
        if wanted in (name, metric.name):
            return Objective(metric.name, metric.higher_is_better)
    valid = ", ".join(metrics) or "none configured"
    raise ConfigError(f"objective {wanted!r} is not one of the run's metrics ({valid}); add it with --metric {wanted}")


def evaluate(metrics: dict[str, Metric], generate: Callable[[int], Tensor], data: DataSource, final: bool) -> dict[str, float]:
    """Every metric's values; the global RNG streams are the same before and after."""
    values: dict[str, float] = {}
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if torch.cuda.is_available() else []):
        for metric in metrics.values():
            values.update(metric.evaluate(generate, data, final=final))
    return values

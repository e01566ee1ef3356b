"""The model families a sweep compares, and the training config of one grid point."""

from __future__ import annotations

import dataclasses
from typing import Any

from energan.config import TrainConfig, apply_overrides
from energan.errors import ConfigError
from energan.params import closest
from energan.sweep.grids import Grid, KnobValue, knob_overrides

# Each family as the components of an ``energan train`` run (the paper's EBGAN, EBGAN-PT and GAN).
FAMILIES: dict[str, dict[str, Any]] = {
    "ebgan": {"energy": {"name": "autoencoder"}, "loss": {"name": "margin"}, "reg": {}},
    "ebgan-pt": {"energy": {"name": "autoencoder"}, "loss": {"name": "margin"}, "reg": {"pullaway": {}}},
    "gan": {"energy": {"name": "logit"}, "loss": {"name": "logistic"}, "reg": {}},
}


def check_family(family: str) -> str:
    if family not in FAMILIES:
        raise ConfigError(f"unknown family {family!r}{closest(family, FAMILIES)}; valid: {', '.join(FAMILIES)}")
    return family


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """What every point of one family's sweep shares; stored with the study, checked on rejoin."""

    grid: Grid
    family: str
    data: str = "mnist5k"
    data_dir: str = ""
    steps: int = 1000
    seed: int = 0
    overrides: tuple[str, ...] = ()
    objective: str = "inception_score"  # the metric whose value each point reports, by name
    higher_is_better: bool = True  # its direction: the study maximises or minimises it

    @property
    def space(self) -> dict[str, list[KnobValue]]:
        return self.grid.space(self.family)

    @property
    def size(self) -> int:
        return self.grid.size(self.family)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly identity of the sweep: what machines sharing it must agree on (the data's
        path may differ between machines)."""
        return {
            "grid": self.grid.to_dict(),
            "family": self.family,
            "data": self.data,
            "steps": self.steps,
            "seed": self.seed,
            "overrides": sorted(self.overrides),
            "objective": self.objective,
            "higher_is_better": self.higher_is_better,
        }

    def config(self, point: dict[str, KnobValue], runs_dir: str, name: str) -> TrainConfig:
        """The training config of one point: family, data, fixed settings, then the knob values."""
        raw: dict[str, Any] = {
            **FAMILIES[self.family],
            "data": {"name": self.data},
            "generator": {"name": "mlp"},
            "metrics": {self.objective: {}},
        }
        fixed = [item for key, value in self.grid.fixed.items() for item in knob_overrides(key, value)]
        settings = [
            f"steps={self.steps}",
            f"seed={self.seed}",
            f"data_dir={self.data_dir}",
            f"runs_dir={runs_dir}",
            f"name={name}",
            f"objective={self.objective}",
            "eval_every=0",
            f"checkpoint_every={self.steps}",
            "keep_checkpoints=0",
        ]
        knobs = [item for knob, value in point.items() for item in knob_overrides(knob, value)]
        return TrainConfig.from_dict(apply_overrides(raw, [*fixed, *self.overrides, *settings, *knobs]))


def validate(spec: SweepSpec, registries: Any) -> None:
    """Resolve one config per knob value, so a bad knob fails before any point runs."""
    from energan.config import resolve

    unknown = sorted(set(spec.grid.family_knobs) - set(FAMILIES))
    if unknown:
        raise ConfigError(f"grid {spec.grid.name!r}: [family_knobs.{unknown[0]}] names no family; valid: {', '.join(FAMILIES)}")
    first = {knob: values[0] for knob, values in spec.space.items()}
    for knob, values in spec.space.items():
        for value in values:
            try:
                resolve(spec.config({**first, knob: value}, "runs", "check"), registries)
            except ConfigError as error:
                raise ConfigError(f"grid {spec.grid.name!r}, family {spec.family!r}, {knob}={value!r}: {error}") from None


def prepare_scoring(spec: SweepSpec, plugins: Any) -> None:
    """Load the sweep's data and let the objective's metric build its cached references (the
    Inception Score's classifier, FID statistics) once, before any worker starts: missing data fails
    here rather than in every point, and workers share the cache."""
    from energan.assemble import load_data
    from energan.config import resolve
    from energan.scoring import build_metrics, check_requirements

    first = next(spec.grid.points(spec.family))
    config = resolve(spec.config(first, "runs", "prepare"), plugins.registries)
    data = load_data(config, plugins)
    metrics = build_metrics(config.table_params("metrics"), plugins.registries)
    check_requirements(metrics, data)
    for metric in metrics.values():
        prepare = getattr(metric, "prepare", None)
        if prepare is not None:
            prepare(data)

"""The families a sweep compares (each a training config) and the training config of one grid point."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

from energan.config import TrainConfig, apply_overrides
from energan.errors import ConfigError
from energan.kinds import DATASET, METRIC
from energan.params import closest
from energan.sweep.grids import Grid, KnobValue, knob_overrides

CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"  # the shipped configs (examples/configs links here)


@dataclasses.dataclass(frozen=True)
class Family:
    """A family is a training config: a shipped one by name (``ebgan-pt``) or a user's TOML file.

    Every point of its sweep starts from ``config`` and changes only the grid's knobs and the
    sweep's settings; reports name the family by ``name`` (a file's stem).
    """

    name: str
    config: dict[str, Any]
    origin: str


def family_names() -> list[str]:
    """The shipped configs, by name."""
    return sorted(path.stem for path in CONFIGS_DIR.glob("*.toml"))


def load_family(name_or_path: str) -> Family:
    """A shipped config by name, or a ``.toml`` config file; anything else is a one-line error."""
    from energan.config import read_toml

    if name_or_path in family_names():
        path = CONFIGS_DIR / f"{name_or_path}.toml"
    else:
        path = Path(name_or_path)
        if path.suffix != ".toml":
            names = family_names()
            raise ConfigError(
                f"unknown family {name_or_path!r}{closest(name_or_path, names)}; valid: {', '.join(names)} or a .toml config file"
            )
    return Family(path.stem, read_toml(path), str(path))


def unique_families(families: list[Family]) -> list[Family]:
    """Drop repeats of the same family; two different configs under one name are an error."""
    by_name: dict[str, Family] = {}
    for family in families:
        seen = by_name.setdefault(family.name, family)
        if seen.config != family.config:
            raise ConfigError(f"two families are named {family.name!r} ({seen.origin} and {family.origin}); rename one of the files")
    return list(by_name.values())


def check_family_knobs(grid: Grid, families: list[Family]) -> None:
    """A grid's [family_knobs.NAME] must name a shipped family or one of this sweep's."""
    known = [*family_names(), *(family.name for family in families)]
    unknown = sorted(set(grid.family_knobs) - set(known))
    if unknown:
        raise ConfigError(f"grid {grid.name!r}: [family_knobs.{unknown[0]}] names no family; valid: {', '.join(dict.fromkeys(known))}")


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """What every point of one family's sweep shares; stored with the study, checked on rejoin."""

    grid: Grid
    family: Family
    data: str = "mnist5k"
    data_dir: str = ""
    steps: int = 1000
    seed: int = 0
    overrides: tuple[str, ...] = ()
    objective: str = "inception_score"  # the metric whose value each point reports, by name
    higher_is_better: bool = True  # its direction: the study maximises or minimises it

    @property
    def space(self) -> dict[str, list[KnobValue]]:
        return self.grid.space(self.family.name)

    @property
    def size(self) -> int:
        return self.grid.size(self.family.name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly identity of the sweep: what machines sharing it must agree on (the data's
        path may differ between machines)."""
        return {
            "grid": self.grid.to_dict(),
            "family": self.family.name,
            "family_config": self.family.config,
            "data": self.data,
            "steps": self.steps,
            "seed": self.seed,
            "overrides": sorted(self.overrides),
            "objective": self.objective,
            "higher_is_better": self.higher_is_better,
        }

    def config(self, point: dict[str, KnobValue], runs_dir: str, name: str) -> TrainConfig:
        """The training config of one point: the family's config, the sweep's data and objective, the
        sweep's defaults (no evaluation before the end, one checkpoint), the grid's fixed settings,
        the sweep's --set overrides, its identity settings, then the knob values.

        A grid's [set] or a --set may turn evaluations on (``eval_every = 3000``, for curves of
        the score over training); the steps, seed, names and objective are the sweep's own.
        """
        raw = copy.deepcopy(self.family.config)
        data, metrics = raw.get(DATASET.key), raw.get(METRIC.key)
        raw[DATASET.key] = data if isinstance(data, dict) and data.get("name") == self.data else {"name": self.data}
        raw[METRIC.key] = {self.objective: metrics.get(self.objective, {}) if isinstance(metrics, dict) else {}}
        defaults = ["eval_every=0", f"checkpoint_every={self.steps}", "keep_checkpoints=0"]
        fixed = [item for key, value in self.grid.fixed.items() for item in knob_overrides(key, value)]
        identity = [
            f"steps={self.steps}",
            f"seed={self.seed}",
            f"data_dir={self.data_dir}",
            f"runs_dir={runs_dir}",
            f"name={name}",
            f"objective={self.objective}",
        ]
        knobs = [item for knob, value in point.items() for item in knob_overrides(knob, value)]
        return TrainConfig.from_dict(apply_overrides(raw, [*defaults, *fixed, *self.overrides, *identity, *knobs]))


def validate(spec: SweepSpec, registries: Any) -> None:
    """Resolve one config per knob value, so a bad knob fails before any point runs."""
    from energan.config import resolve

    first = {knob: values[0] for knob, values in spec.space.items()}
    for knob, values in spec.space.items():
        for value in values:
            try:
                resolve(spec.config({**first, knob: value}, "runs", "check"), registries)
            except ConfigError as error:
                raise ConfigError(f"grid {spec.grid.name!r}, family {spec.family.name!r}, {knob}={value!r}: {error}") from None


def prepare_scoring(spec: SweepSpec, plugins: Any) -> None:
    """Load the sweep's data and let the objective's metric build its cached references (the
    Inception Score's classifier, FID statistics) once, before any worker starts: missing data fails
    here rather than in every point, and workers share the cache."""
    from energan.assemble import load_data
    from energan.config import resolve
    from energan.metrics.scoring import build_metrics, check_requirements

    first = next(spec.grid.points(spec.family.name))
    config = resolve(spec.config(first, "runs", "prepare"), plugins.registries)
    data = load_data(config, plugins)
    metrics = build_metrics(config.metrics, plugins.registries)
    check_requirements(metrics, data)
    for metric in metrics.values():
        metric.prepare(data)

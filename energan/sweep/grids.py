"""Grid definitions: the paper's MNIST grids by name, or a user's grid from a TOML file.

A knob is either one of the paper's names (nLayerG, sizeD, dropoutD, optimG, lr, ...) or any
config key that ``--set`` accepts (``energy.size``, ``batch_size``, ``reg.pullaway.weight``).
A user's grid file::

    [knobs]                 # every family sweeps these
    nLayerG = [2, 3]
    sizeD = [128, 256]
    [family_knobs.gan]      # extra knobs for one family
    lr = [1e-3, 1e-4]
    [set]                   # fixed for every point
    batch_size = 32
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from energan.errors import ConfigError
from energan.params import closest

KnobValue = bool | int | float | str

# Table 1's knob names, as config overrides. dropoutD = true uses the customary rate of 0.5.
PAPER_KNOBS: dict[str, tuple[str, ...]] = {
    "nLayerG": ("generator.n_layers",),
    "sizeG": ("generator.size",),
    "nLayerD": ("energy.n_layers",),
    "sizeD": ("energy.size",),
    "dropoutD": ("energy.dropout",),
    "optimD": ("optimizer_d",),
    "optimG": ("optimizer_g",),
    "lr": ("lr_d", "lr_g"),
}
DROPOUT_RATE = 0.5


@dataclasses.dataclass(frozen=True)
class Grid:
    """Knob values shared by every family, extra knobs per family, and fixed settings."""

    name: str
    knobs: dict[str, list[KnobValue]]
    family_knobs: dict[str, dict[str, list[KnobValue]]] = dataclasses.field(default_factory=dict)
    fixed: dict[str, KnobValue] = dataclasses.field(default_factory=dict)

    def space(self, family: str) -> dict[str, list[KnobValue]]:
        """The knobs one family sweeps, in a stable order."""
        return {**self.knobs, **self.family_knobs.get(family, {})}

    def size(self, family: str) -> int:
        return math.prod(len(values) for values in self.space(family).values())

    def points(self, family: str) -> Iterator[dict[str, KnobValue]]:
        space = self.space(family)
        for values in itertools.product(*space.values()):
            yield dict(zip(space, values, strict=True))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def knob_overrides(knob: str, value: KnobValue) -> list[str]:
    """``--set`` overrides for one knob value (paper names expanded, other keys passed through)."""
    if knob == "dropoutD":
        value = DROPOUT_RATE if value else 0.0
    keys = PAPER_KNOBS.get(knob, (knob,))
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return [f"{key}={text}" for key in keys]


_TABLE1 = {
    "nLayerG": [2, 3, 4, 5],
    "nLayerD": [2, 3, 4, 5],
    "sizeG": [400, 800, 1600, 3200],
    "sizeD": [128, 256, 512, 1024],
    "dropoutD": [True, False],
}
_GAN_OPTIMISATION = {"optimD": ["adam", "sgd"], "optimG": ["adam", "sgd"], "lr": [1e-2, 1e-3, 1e-4]}

# A grid varies only the paper's knobs: everything else (learning rate, EMA, warm-up, augmentation,
# the loss's own parameters) is each family's shipped recipe, so a point differs from `energan train
# --config FAMILY` by its knob values alone.
NAMED_GRIDS: dict[str, Grid] = {
    # Table 1: 512 EBGAN points and 6144 GAN points (the GAN also over optimisers and learning rates).
    "paper-mnist": Grid("paper-mnist", _TABLE1, {"gan": _GAN_OPTIMISATION}),
    # Two values of each Table 1 knob: 32 points for every family.
    "paper-mnist-32": Grid(
        "paper-mnist-32",
        {"nLayerG": [2, 4], "nLayerD": [2, 4], "sizeG": [400, 1600], "sizeD": [128, 512], "dropoutD": [True, False]},
    ),
    # The GAN's optimisation knobs alone, at the family's shipped architecture: 12 points.
    "paper-optim": Grid("paper-optim", _GAN_OPTIMISATION),
    # The defaults over ten seeds: how often `energan train` succeeds, family by family.
    "seeds": Grid("seeds", {"seed": list(range(10))}),
}


SWEEP_OWNED = {  # settings a grid's [set] cannot fix: the sweep's command line owns them
    "steps": "--steps",
    "seed": "--seed or a seed knob",
    "data_dir": "--data-dir",
    "runs_dir": "--runs-dir",
    "name": "the sweep, which names each point",
    "objective": "--objective",
}


def load_grid(name_or_path: str) -> Grid:
    """A named grid, or a TOML grid file."""
    if name_or_path in NAMED_GRIDS:
        return NAMED_GRIDS[name_or_path]
    path = Path(name_or_path)
    if path.suffix != ".toml":
        raise ConfigError(
            f"unknown grid {name_or_path!r}{closest(name_or_path, NAMED_GRIDS)}; valid: {', '.join(NAMED_GRIDS)} or a .toml grid file"
        )
    from energan.config import read_toml

    return grid_from_dict(path.stem, read_toml(path), str(path))


def grid_from_dict(name: str, raw: Mapping[str, Any], origin: str) -> Grid:
    """Validate the TOML layout: non-empty lists of scalar values, known tables only."""
    unknown = set(raw) - {"knobs", "family_knobs", "set"}
    if unknown:
        raise ConfigError(f"grid {origin}: unknown table(s) {sorted(unknown)}; valid: knobs, family_knobs, set")
    knobs = _knob_table(raw.get("knobs", {}), f"grid {origin} [knobs]")
    families = raw.get("family_knobs", {})
    if not isinstance(families, Mapping):
        raise ConfigError(f"grid {origin}: [family_knobs] must hold one table per family")
    family_knobs = {family: _knob_table(table, f"grid {origin} [family_knobs.{family}]") for family, table in families.items()}
    fixed = raw.get("set", {})
    if not isinstance(fixed, Mapping) or not all(isinstance(v, KnobValue) for v in fixed.values()):
        raise ConfigError(f"grid {origin}: [set] must map config keys to single values")
    owned = sorted(set(fixed) & set(SWEEP_OWNED))
    if owned:
        raise ConfigError(f"grid {origin}: [set] {owned[0]} is the sweep's setting; set it with {SWEEP_OWNED[owned[0]]}")
    if not knobs and not family_knobs:
        raise ConfigError(f"grid {origin}: no knobs; add a [knobs] table, e.g. nLayerG = [2, 3]")
    return Grid(name, knobs, family_knobs, dict(fixed))


def _knob_table(table: Any, where: str) -> dict[str, list[KnobValue]]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table of knob = [values]")
    out: dict[str, list[KnobValue]] = {}
    for knob, values in table.items():
        if not isinstance(values, list) or not values or not all(isinstance(v, KnobValue) for v in values):
            raise ConfigError(f"{where}: {knob} = {values!r} must be a non-empty list of numbers, strings or booleans")
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"{where}: {knob} = {values!r} repeats a value")
        out[knob] = list(values)
    return out

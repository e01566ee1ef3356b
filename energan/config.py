"""Training configuration: defaults < TOML file < command-line flags < ``--set key=value``.

The file layout (also how a run's resolved ``config.toml`` is written)::

    steps = 3000            # training settings at the top level (see TrainSettings)
    [energy]                # one table per component: its name and its parameters
    name = "autoencoder"
    n_layers = 2
    [loss]
    name = "margin"
    [reg.pullaway]          # regularizers by name, each with its parameters
    weight = 0.1
    [metrics.inception_score]
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomli_w

from energan import kinds
from energan.atomic import write_atomic
from energan.errors import CheckpointError, ConfigError
from energan.kinds import ComponentKind
from energan.options import DEVICES
from energan.params import applying_dict, build_params, closest, param, params_dict
from energan.registry import Component, Registries
from energan.runfiles import RunFiles

AUGMENTATIONS = ("auto", "translation", "none")  # of the energy's inputs: energan.augment


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """The trainer's own settings (everything that is not a component)."""

    name: str = param("", "run name (directory under runs_dir); default: <energy>-<loss>-<time>")
    runs_dir: str = param("runs", "where run directories are created")
    data_dir: str = param("", "directory of the dataset's files (datasets that read files)")
    steps: int = param(12000, "generator steps", low=1)
    batch_size: int = param(
        64, "samples per batch (real and fake); under torchrun the global batch, split evenly over the processes", low=2
    )
    d_steps: int = param(1, "discriminator (energy) steps per generator step", low=1)
    warmup_steps: int = param(
        -1,
        "first steps that train only the energy, on real data (an auto-encoder learns to reconstruct them); G waits. "
        "-1 (auto): 500, at most a tenth of the steps, for an energy bounded below (the auto-encoder); 0 for others; "
        "= steps: the energy alone the whole run (a plain auto-encoder, the generator never trains)",
        low=-1,
    )
    augment: str = param(
        "auto",
        "differentiable augmentation of every image the energy sees, real and generated (DiffAugment): translation "
        "(each image shifted by up to augment_shift of its side, the border pixels filling in), none, or auto: "
        "translation where that shift is at least a pixel (images), none otherwise (2-D points)",
        choices=AUGMENTATIONS,
    )
    augment_shift: float = param(0.0625, "largest translation, as a share of the image side (0.0625 of 28: 2 pixels)", low=0.0, high=0.5)
    optimizer: str = param(
        "adam", "any first-order timm optimizer name (timm.optim.list_optimizers()); its APEX and bitsandbytes ones on CUDA only"
    )
    optimizer_d: str = param("", "energy optimizer, if it differs from optimizer (paper's optimD)")
    optimizer_g: str = param("", "generator optimizer, if it differs from optimizer (paper's optimG)")
    lr_d: float = param(1e-3, "energy learning rate", low=0.0)
    lr_g: float = param(1e-3, "generator learning rate", low=0.0)
    beta1: float = param(0.5, "Adam-style first-moment decay", low=0.0, below=1.0)
    beta2: float = param(0.999, "Adam-style second-moment decay", low=0.0, below=1.0)
    weight_decay: float = param(0.0, "weight decay for both optimizers", low=0.0)
    lr_decay_start: float = param(
        1.0, "share of the steps after which both learning rates fall linearly to 0 at the last step (1: constant)", low=0.0, high=1.0
    )
    ema: bool = param(True, "sample from an exponential moving average of the generator (timm ModelEmaV3)")
    ema_decay: float = param(0.999, "EMA decay", low=0.0, high=1.0)
    device: str = param("auto", "auto (cuda if available), cpu or cuda", choices=DEVICES)
    amp: str = param(
        "none",
        "mixed precision of the networks' forward passes: bf16 (CUDA or CPU), fp16 (CUDA, gradient scaler)",
        choices=("none", "bf16", "fp16"),
    )
    compile: bool = param(False, "torch.compile the generator and the energy (one graph per network and phase)")
    sync_batch_norm: bool = param(
        True,
        "batch-norm statistics over the global batch in a multi-process run, as one process computes them (false: each rank's share, with rank 0's running statistics)",
    )
    seed: int = param(0, "seed of every random stream", low=0, high=2**62)  # the streams' offsets stay within int64
    log_every: int = param(25, "steps between logged scalars", low=1)
    eval_every: int = param(1000, "steps between metric evaluations and sample grids (0: only at the end)", low=0)
    checkpoint_every: int = param(1000, "steps between checkpoints (also written at the end)", low=1)
    keep_checkpoints: int = param(3, "numbered checkpoints kept besides last.pt", low=0)
    max_energy: float = param(
        1e6, "stop with an error (before checkpointing) when |mean energy| of real or fake exceeds this; 0: never", low=0.0
    )
    objective: str = param("", "metric that ranks checkpoints (best.pt), by name, e.g. inception_score, fid (default: the first metric)")
    log: str = param("", "observers that run only when named here (plugins that set OPT_IN), comma-separated, e.g. tensorboard")

    def __post_init__(self) -> None:
        if self.warmup_steps > self.steps:
            raise ConfigError(
                f"warmup_steps {self.warmup_steps} exceeds steps {self.steps}; valid: 0 to {self.steps} "
                f"({self.steps}: the energy alone, on real data, the whole run), or -1 (auto)"
            )

    @property
    def observers(self) -> tuple[str, ...]:
        """The opt-in observers ``log`` names (:meth:`energan.plugins.Plugins.notifier` checks them)."""
        return tuple(name.strip() for name in self.log.split(",") if name.strip())


def _chosen(config: Any, key: str) -> Any:
    """A config's component (or table of components) by config key, for attribute access."""
    for where in ("components", "tables"):
        if key in config.__dict__.get(where, {}):
            return config.__dict__[where][key]
    raise AttributeError(f"{type(config).__name__} has no {key!r}")


@dataclasses.dataclass(frozen=True)
class ComponentChoice:
    """A component by registry name, with the raw parameter values a file, a flag or ``--set`` gave."""

    name: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


Tables = dict[str, dict[str, dict[str, Any]]]  # kinds of several components: key -> name -> raw values


class TrainConfig:
    """A config as given (raw values): the training settings, the one component of each kind that
    takes one (``config.energy``), the named components of each kind that takes several
    (``config.reg``, ``config.metrics``). Keyword arguments and attributes are the kinds' config
    keys; :func:`resolve` checks it against the registries."""

    def __init__(self, settings: TrainSettings | None = None, **chosen: ComponentChoice | dict[str, dict[str, Any]]) -> None:
        unknown = sorted(set(chosen) - {kind.key for kind in kinds.KINDS})
        if unknown:
            keys = [kind.key for kind in kinds.KINDS]
            raise ConfigError(f"config: unknown table {unknown[0]!r}{closest(unknown[0], keys)}; valid: {', '.join(keys)}")
        self.settings = settings or TrainSettings()
        self.components: dict[str, ComponentChoice] = {}
        self.tables: Tables = {}
        for kind in kinds.KINDS:
            if kind.many:
                self.tables[kind.key] = dict(chosen.get(kind.key, {name: {} for name in kind.default}))
            else:
                self.components[kind.key] = chosen.get(kind.key, ComponentChoice(kind.default[0]))

    def __getattr__(self, key: str) -> Any:
        """``config.energy`` (a :class:`ComponentChoice`), ``config.reg`` (name -> raw values)."""
        return _chosen(self, key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrainConfig) and (self.settings, self.components, self.tables) == (
            other.settings,
            other.components,
            other.tables,
        )

    def __repr__(self) -> str:
        return f"TrainConfig(settings={self.settings!r}, components={self.components!r}, tables={self.tables!r})"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TrainConfig:
        """Build from the TOML layout; unknown keys and bad values are errors."""
        raw = dict(raw)
        for record in RECORD_TABLES:  # written for the record, not read back
            raw.pop(record, None)
        chosen: dict[str, Any] = {}
        for kind in kinds.KINDS:
            if kind.key not in raw:
                continue
            value = raw.pop(kind.key)
            if not isinstance(value, Mapping):
                raise ConfigError(f"config: [{kind.key}] must be a table, got {value!r}")
            if kind.many:
                chosen[kind.key] = {name: dict(p) if isinstance(p, Mapping) else _not_table(kind.key, name, p) for name, p in value.items()}
            else:
                params = dict(value)
                chosen[kind.key] = ComponentChoice(str(params.pop("name", kind.default[0])), params)
        return cls(build_params(TrainSettings, raw, "config"), **chosen)

    def to_dict(self) -> dict[str, Any]:
        """The TOML layout (settings at the top level, a table per component)."""
        out: dict[str, Any] = params_dict(self.settings)
        for key, choice in self.components.items():
            out[key] = {"name": choice.name, **choice.params}
        out.update(copy.deepcopy(self.tables))
        return out

    def replace_settings(self, **changes: Any) -> TrainConfig:
        return TrainConfig(dataclasses.replace(self.settings, **changes), **self.components, **self.tables)


@dataclasses.dataclass(frozen=True)
class Resolved:
    """One component of a resolved config: its name, its validated parameters (the instance the
    factory receives; None for a component without parameters) and the values that apply (what
    ``config.toml`` saves)."""

    name: str
    params: Any
    values: dict[str, Any]

    @classmethod
    def of(cls, component: Component[Any], values: Mapping[str, Any]) -> Resolved:
        """``component`` with raw ``values`` checked and completed."""
        params = component.resolve(values)
        return cls(component.name, params, applying_dict(params))

    def build(self, registries: Registries, kind: ComponentKind, **context: Any) -> Any:
        """The component, from its kind's registry."""
        return registries[kind].get(self.name).build(self.params, **context)


@dataclasses.dataclass(frozen=True)
class ResolvedConfig:
    """A config checked against the registries, every default filled in: what a run is built from
    and what its ``config.toml`` holds. Frozen: a change is a new config (:meth:`replace_settings`)."""

    settings: TrainSettings
    components: Mapping[str, Resolved]  # kinds of one component, by config key
    tables: Mapping[str, Mapping[str, Resolved]]  # kinds of several, by config key, then name

    def __getattr__(self, key: str) -> Any:
        """``config.energy`` (a :class:`Resolved`), ``config.reg`` (name -> :class:`Resolved`)."""
        return _chosen(self, key)

    def build(self, kind: ComponentKind, registries: Registries, **context: Any) -> Any:
        """The one component of ``kind``."""
        return self.components[kind.key].build(registries, kind, **context)

    def build_all(self, kind: ComponentKind, registries: Registries, **context: Any) -> dict[str, Any]:
        """Every component of ``kind`` (a kind of several), by name."""
        return {name: chosen.build(registries, kind, **context) for name, chosen in self.tables[kind.key].items()}

    def to_dict(self) -> dict[str, Any]:
        """The TOML layout, with every value that applies."""
        out: dict[str, Any] = params_dict(self.settings)
        for key, chosen in self.components.items():
            out[key] = {"name": chosen.name, **chosen.values}
        for key, table in self.tables.items():
            out[key] = {name: dict(chosen.values) for name, chosen in table.items()}
        return out

    def replace_settings(self, **changes: Any) -> ResolvedConfig:
        return dataclasses.replace(self, settings=dataclasses.replace(self.settings, **changes))


def _not_table(key: str, name: str, value: Any) -> dict[str, Any]:
    raise ConfigError(f"config: [{key}.{name}] must be a table of parameters, got {value!r}")


# Settings added after runs were first saved, with the value that reproduces those runs: a saved
# run's config.toml without one of them predates it (its default now would change the run).
BEFORE_SETTING = {"warmup_steps": 0, "augment": "none"}


RECORD_TABLES = ("plugins", "provenance")  # tables of a saved config.toml that record how the run was made


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """The saved config of the run in ``run_dir``, with the settings it predates at their earlier
    behaviour; a directory without one is not a run's (one-line error)."""
    path = RunFiles(Path(run_dir)).config
    if not path.is_file():
        raise CheckpointError(f"{run_dir} is not a run directory (no {path.name})")
    raw = read_toml(path)
    return {**BEFORE_SETTING, **raw} if raw else raw


BYTE_ORDER_MARK = "\ufeff"  # what a file saved as "UTF-8 with BOM" starts with; TOML itself refuses it
MAX_TOML_BYTES = 4 * 2**20  # configs and grids are a few kB; this bounds a read of /dev/zero or a wrong file


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict, with a one-line error for a missing, oversized, non-UTF-8 or malformed
    file; a leading byte-order mark (as some Windows editors save UTF-8) is dropped."""
    try:
        with Path(path).open("rb") as stream:
            data = stream.read(MAX_TOML_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as error:  # a directory, no permission, ...
        raise ConfigError(f"config file {path} cannot be read: {error.strerror or error}") from None
    if len(data) > MAX_TOML_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_TOML_BYTES // 2**20} MB: not a config")
    try:
        return tomllib.loads(data.decode("utf-8").removeprefix(BYTE_ORDER_MARK))
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {data[error.start]:#04x} at offset {error.start})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    except RecursionError:
        raise ConfigError(f"config file {path} nests its arrays or tables too deeply to be a config") from None


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key=value`` overrides (dotted keys: ``loss.margin=2``, ``reg.pullaway.weight=0.2``)."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. loss.margin=2")
        *path, leaf = key.strip().split(".")
        if path and kinds.by_key(path[0]) is None:
            tables = [kind.key for kind in kinds.KINDS]
            raise ConfigError(f"--set {item!r}: unknown table {path[0]!r}{closest(path[0], tables)}; valid: {', '.join(tables)}")
        node = raw
        for depth, part in enumerate(path):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                table = ".".join(path[: depth + 1])
                raise ConfigError(f"--set {item!r}: {table} is {node!r}, not a table; set {table}.name instead")
        node[leaf] = value.strip()
    return raw


def resolve(config: TrainConfig, registries: Registries) -> ResolvedConfig:
    """Check every component name and parameter against its registry; fill in every default."""

    def resolved(kind: ComponentKind, name: str, values: Mapping[str, Any]) -> Resolved:
        return Resolved.of(registries[kind].get(name), values)

    components = {
        kind.key: resolved(kind, config.components[kind.key].name, config.components[kind.key].params)
        for kind in kinds.KINDS
        if not kind.many
    }
    tables = {
        kind.key: {name: resolved(kind, name, values) for name, values in config.tables[kind.key].items()}
        for kind in kinds.KINDS
        if kind.many
    }
    return ResolvedConfig(config.settings, components, tables)


def save_config(
    path: Path, config: ResolvedConfig, plugin_versions: Mapping[str, str | None], provenance: Mapping[str, int | str] | None = None
) -> None:
    """Write the resolved config, with the versions of the plugins it used and how it was trained
    (``provenance``: world size, device), atomically."""
    document = config.to_dict()
    document["plugins"] = {name: version or "unknown" for name, version in plugin_versions.items()}
    if provenance:
        document["provenance"] = dict(provenance)
    text = tomli_w.dumps(document)
    write_atomic(path, lambda stream: stream.write(text.encode()))

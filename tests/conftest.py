"""Shared fixtures: an isolated cache, small fast configs, and an in-process CLI runner."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from energan.benchmarks.quick_config import QUICK_CONFIG
from energan.cli import main


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Classifiers trained by tests go to a temporary cache, never the user's."""
    path = tmp_path_factory.mktemp("cache")
    os.environ["ENERGAN_CACHE_DIR"] = str(path)
    return path


@pytest.fixture
def quick_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a tiny, fast training config (no metrics) and return its path."""

    def write(steps: int = 8, extra: str = "") -> Path:
        path = tmp_path / f"quick-{steps}.toml"
        path.write_text(QUICK_CONFIG.format(steps=steps, runs=tmp_path / "runs") + extra)
        return path

    return write


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``energan ARGS`` in process; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run

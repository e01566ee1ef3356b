"""``energan --version``: energan, Python, torch, CUDA, Triton and the loaded plugins, for bug reports."""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path

import pytest
import torch

from energan import __version__
from energan.cli import main
from energan.version import torch_lines

EXAMPLE_PLUGIN = Path(__file__).parents[1] / "examples" / "norm_energy.py"


def version_lines(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    with pytest.raises(SystemExit) as stop:
        main([*args, "--version"])
    out, err = capsys.readouterr()
    assert (stop.value.code, err) == (0, "")
    return out.splitlines()


def test_version_reports_python_torch_cuda_triton_and_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    lines = version_lines(capsys)
    assert lines[:3] == [
        f"energan {__version__}",
        f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.platform()}",
        f"torch {torch.__version__}",
    ]
    cuda, triton = lines[3], lines[4]
    if torch.cuda.is_available():
        assert cuda.startswith(f"CUDA {torch.version.cuda}: available (") and torch.cuda.get_device_name(0) in cuda
    else:
        assert cuda.startswith("CUDA: not available (")
    try:
        assert triton == f"triton {importlib.metadata.version('triton')}"
    except importlib.metadata.PackageNotFoundError:
        assert triton == "triton: not installed"
    (builtins,) = [line for line in lines if line.startswith(f"plugins (energan {__version__}): ")]
    assert {"autoencoder", "margin", "pullaway", "progress"} <= set(builtins.split(": ", 1)[1].split(", "))


def test_version_names_a_plugin_loaded_with_p(capsys: pytest.CaptureFixture[str]) -> None:
    lines = version_lines(capsys, "-p", str(EXAMPLE_PLUGIN))
    assert f"plugins (no distribution): {EXAMPLE_PLUGIN}" in lines


@pytest.mark.parametrize(
    ("built_with", "available", "expected"),
    [
        (None, False, "CUDA: not available (a CPU build of torch)"),
        ("13.0", False, "CUDA: not available (torch built with CUDA 13.0)"),
        ("13.0", True, "CUDA 13.0: available (GPU 0, GPU 1)"),
    ],
)
def test_the_cuda_line_names_the_build_and_each_device(
    monkeypatch: pytest.MonkeyPatch, built_with: str | None, available: bool, expected: str
) -> None:
    monkeypatch.setattr(torch.version, "cuda", built_with)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"GPU {index}")
    assert torch_lines() == [f"torch {torch.__version__}", expected]

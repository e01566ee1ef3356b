"""Assertions several test modules share."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from energan.benchmarks.quick_config import QUICK_CONFIG
from energan.checkpoint import Checkpoint
from energan.cli import main
from energan.components import EnergyOutput


def assert_same_weights(a: Checkpoint, b: Checkpoint) -> None:
    for part in ("generator", "energy", "ema", "optimizer_d"):
        left, right = (a.training[part], b.training[part]) if part.startswith("optimizer") else (a.model[part], b.model[part])
        if left is None or right is None:
            assert left is None and right is None, f"{part} saved in one run only"
            continue
        if part.startswith("optimizer"):
            left = {k: v for s in left["state"].values() for k, v in s.items()}
            right = {k: v for s in right["state"].values() for k, v in s.items()}
        assert left.keys() == right.keys()
        for key in left:
            assert torch.equal(left[key], right[key]), f"{part}.{key} differs"


def one_line(err: str) -> str:
    """The one ``energan: error:`` line of a command's stderr; a traceback fails the test."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("energan: error:")]
    assert len(lines) == 1, err
    return lines[0]


def trained_quick_run(directory: Path, steps: int, name: str) -> Path:
    """A finished run of the quick config (the auto-encoder energy on the 8×8 digits) under ``directory``."""
    config = directory / "quick.toml"
    config.write_text(QUICK_CONFIG.format(steps=steps, runs=directory / "runs"))
    assert main(["train", "--config", str(config), "--name", name]) == 0
    return directory / "runs" / name


class PixelMean(nn.Module):
    """s(x) = the mean pixel, with dropout so that train mode would change it."""

    def __init__(self) -> None:
        super().__init__()
        self.dropout = nn.Dropout(0.5)

    def forward(self, images: Tensor) -> EnergyOutput:
        return EnergyOutput(self.dropout(images).mean(dim=(1, 2, 3)))

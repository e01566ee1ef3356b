"""Assertions several test modules share."""

from __future__ import annotations

import torch

from energan.checkpoint import Checkpoint


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

"""The learning-rate schedule: constant, then a linear fall to zero at the last step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from energan.checkpoint import load_checkpoint
from energan.schedule import lr_factor, set_lr


def test_factor_by_hand() -> None:
    # 10 steps, decay from step 6: factors 1 … 1, then (10 − i) / 4 for i = 6 … 9
    assert [lr_factor(i, 10, 0.6) for i in range(10)] == [1.0] * 6 + [1.0, 0.75, 0.5, 0.25]
    assert [lr_factor(i, 4, 1.0) for i in range(4)] == [1.0] * 4  # decay_start 1: constant
    assert [lr_factor(i, 4, 0.0) for i in range(4)] == [1.0, 0.75, 0.5, 0.25]  # from the start
    assert lr_factor(12, 10, 0.5) == 0.0  # past the end (steps raised on resume, say) never negative
    assert lr_factor(10, 10, 1.0) == 1.0  # a finished run's step, resumed: constant stays constant


def test_the_rate_is_the_configured_base_times_the_factor() -> None:
    optimizer = torch.optim.Adam([torch.zeros(2, requires_grad=True)], lr=1e-3)
    set_lr(optimizer, 1e-3, 0.5)
    set_lr(optimizer, 1e-3, 0.25)  # from the base each time, not compounded
    assert optimizer.param_groups[0]["lr"] == pytest.approx(2.5e-4, rel=1e-12)
    set_lr(optimizer, 4e-3, 0.25)  # a new base (a resume with --set lr_d=…) takes effect at once
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3, rel=1e-12)


def test_a_run_ends_at_the_last_steps_rate(cli, quick_config, tmp_path: Path) -> None:
    config = quick_config(steps=8)
    assert cli("train", "--config", config, "--name", "decayed", "--set", "lr_decay_start=0.5", "--set", "lr_d=2e-3")[0] == 0
    assert cli("train", "--config", config, "--name", "constant", "--set", "lr_d=2e-3")[0] == 0
    decayed, constant = (load_checkpoint(tmp_path / "runs" / name).training for name in ("decayed", "constant"))
    # step index 7 of 8, decay from index 4: (8 − 7) / (8 − 4) = 1/4 of each rate
    assert decayed["optimizer_d"]["param_groups"][0]["lr"] == pytest.approx(5e-4, rel=1e-12)
    assert decayed["optimizer_g"]["param_groups"][0]["lr"] == pytest.approx(0.25 * constant["optimizer_g"]["param_groups"][0]["lr"])
    assert constant["optimizer_d"]["param_groups"][0]["lr"] == 2e-3


def test_out_of_range_is_refused(cli, quick_config) -> None:
    code, _, err = cli("train", "--config", quick_config(steps=2), "--set", "lr_decay_start=1.5")
    assert code == 1 and err.strip() == "energan: error: config.lr_decay_start: 1.5 is outside the valid range [0.0, 1.0]"


def test_a_resume_with_a_new_rate_continues_the_decay_from_it(cli, quick_config, tmp_path: Path) -> None:
    """--resume --set lr_g=… under a decaying schedule: the new rate is the schedule's new base."""
    config = quick_config(steps=4)
    runs = tmp_path / "runs"
    assert cli("train", "--config", config, "--name", "run", "--set", "lr_decay_start=0.5", "--set", "lr_g=1e-3")[0] == 0
    code, _, err = cli("train", "--resume", runs / "run", "--steps", "8", "--set", "lr_g=4e-3")
    assert code == 0, err
    groups = load_checkpoint(runs / "run").training["optimizer_g"]["param_groups"]
    # 8 steps, decay from index 4: the last step (index 7) runs at (8 − 7) / (8 − 4) = 1/4 of the new 4e-3
    assert groups[0]["lr"] == pytest.approx(1e-3, rel=1e-12)


def test_a_resume_with_lr_g_zero_leaves_the_generator_unchanged(cli, quick_config, tmp_path: Path) -> None:
    """The issue's case: --resume --set lr_g=0 under lr_decay_start = 0.5 freezes the generator."""
    config = quick_config(steps=4)
    runs = tmp_path / "runs"
    assert cli("train", "--config", config, "--name", "run", "--set", "lr_decay_start=0.5", "--set", "ema=false")[0] == 0
    before = load_checkpoint(runs / "run").model["generator"]
    assert cli("train", "--resume", runs / "run", "--steps", "8", "--set", "lr_g=0")[0] == 0
    after = load_checkpoint(runs / "run").model["generator"]
    for key, value in before.items():
        if value.is_floating_point() and "running" not in key:  # batch-norm's statistics follow the batches
            torch.testing.assert_close(after[key], value, atol=0, rtol=0, msg=key)

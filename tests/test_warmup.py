"""The auto-encoder warm-up: the first ``warmup_steps`` train only the energy, on real data."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import torch
from checks import one_line

from energan.assemble import assemble, with_warmup
from energan.checkpoint import load_checkpoint
from energan.config import TrainConfig, resolve
from energan.energies import AutoEncoderEnergy, LogitEnergy
from energan.losses import AdaptiveMarginLoss, MarginLoss
from energan.plugins import load_plugins
from energan.step import TrainStep
from energan.sweep.families import SweepSpec, load_family
from energan.sweep.grids import NAMED_GRIDS


def test_warmup_trains_the_energy_on_data_and_leaves_the_generator(cli, quick_config, tmp_path: Path) -> None:
    config = quick_config(steps=18)  # warm-up up to step 16 (a checkpoint), then two game steps
    assert cli("train", "--config", config, "--name", "warm", "--set", "warmup_steps=16", "--set", "ema=false")[0] == 0
    warm = load_checkpoint(tmp_path / "runs" / "warm" / "checkpoints" / "step-0000016.pt")
    records = [json.loads(line) for line in (tmp_path / "runs" / "warm" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train" and r["step"] <= 16]
    assert all(r["loss_g"] == 0.0 and r["loss_d"] == r["energy_real"] for r in train)  # f_D = mean D(x)
    assert train[-1]["energy_real"] < train[0]["energy_real"]  # it learns to reconstruct the data
    assert warm.training["optimizer_g"]["state"] == {}  # Adam never stepped the generator


BATCH_NORM_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def test_a_warmup_of_the_whole_run_is_a_plain_auto_encoder(cli, quick_config, tmp_path: Path) -> None:
    """warmup_steps = steps: the energy learns the data alone to the end (the detection study's
    baseline); the generator keeps its initial weights."""
    assert cli("train", "--config", quick_config(steps=8), "--name", "alone", "--set", "warmup_steps=8", "--set", "ema=false")[0] == 0
    run = tmp_path / "runs" / "alone"
    first, last = load_checkpoint(run / "checkpoints" / "step-0000004.pt"), load_checkpoint(run / "checkpoints" / "last.pt")
    assert last.step == 8 and last.training["optimizer_g"]["state"] == {}
    before, after = first.model["generator"], last.model["generator"]
    weights = [key for key in before if not key.endswith(BATCH_NORM_STATISTICS)]  # its batch-norm still sees the fakes drawn
    assert weights and all(torch.equal(before[key], after[key]) for key in weights)
    assert not all(torch.equal(first.model["energy"][key], value) for key, value in last.model["energy"].items())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(r["loss_g"] == 0.0 for r in records if r["kind"] == "train")


def test_warmup_refuses_an_energy_unbounded_below(cli, quick_config) -> None:
    code, _, err = cli("train", "--config", quick_config(steps=4), "--energy", "logit", "--loss", "logistic", "--set", "warmup_steps=2")
    assert code == 1 and "warmup_steps 2: the warm-up lowers the energy of real data" in one_line(err)


@pytest.mark.parametrize(
    ("warmup", "steps", "bounded", "expected"),
    [
        (-1, 12000, True, 500),  # auto: the measured 500 steps
        (-1, 3000, True, 300),  # at most a tenth of the run
        (-1, 9, True, 0),
        (-1, 12000, False, 0),  # never for an energy unbounded below
        (0, 12000, True, 0),  # an explicit value is kept
        (124, 12000, True, 124),
    ],
)
def test_auto_warmup(warmup: int, steps: int, bounded: bool, expected: int) -> None:
    energy = AutoEncoderEnergy.__new__(AutoEncoderEnergy) if bounded else LogitEnergy.__new__(LogitEnergy)
    config = TrainConfig.from_dict({"warmup_steps": warmup, "steps": steps})
    assert with_warmup(config, energy, MarginLoss(1.0)).settings.warmup_steps == expected


@pytest.mark.parametrize(("steps", "expected"), [(12000, 124), (3000, 124), (1000, 100), (100, 10)])
def test_magan_asks_for_two_epochs_at_most_a_tenth_of_the_run(steps: int, expected: int) -> None:
    """The shipped recipe's 124 steps (two epochs of mnist5k at batch 64) at 12 000 steps, a tenth of a short run."""
    plugins = load_plugins()
    config = resolve(TrainConfig.from_dict({**load_family("magan").config, "steps": steps}), plugins.registries)
    energy = AutoEncoderEnergy.__new__(AutoEncoderEnergy)
    assert with_warmup(config, energy, AdaptiveMarginLoss()).settings.warmup_steps == expected


def test_a_short_magan_sweep_point_trains(tmp_path: Path) -> None:
    """``energan sweep --family magan --steps 100``: the point's config resolves, warms up for 10 steps, then plays."""
    plugins = load_plugins()
    spec = SweepSpec(NAMED_GRIDS["seeds"], load_family("magan"), steps=100)
    point = next(spec.grid.points(spec.family.name))
    raw = spec.config(point, str(tmp_path), "magan-100").replace_settings(device="cpu")
    config, data, state = assemble(resolve(raw, plugins.registries), plugins)
    assert config.settings.warmup_steps == 10
    step = TrainStep(state, data, config.settings)
    for index in range(12):  # the warm-up, then two steps of the game
        out = step(index)
    step.close()
    assert out.loss_g != 0 and torch.isfinite(out.total_d) and 0 < float(state.loss.margin) < 1


def test_the_run_records_the_concrete_warmup(cli, quick_config, tmp_path: Path) -> None:
    config = quick_config(steps=40)
    assert cli("train", "--config", config, "--name", "auto", "--set", "warmup_steps=-1")[0] == 0
    assert cli("train", "--config", config, "--name", "gan", "--energy", "logit", "--loss", "logistic", "--set", "warmup_steps=-1")[0] == 0
    runs = tmp_path / "runs"
    saved = {name: tomllib.loads((runs / name / "config.toml").read_text())["warmup_steps"] for name in ("auto", "gan")}
    assert saved == {"auto": 4, "gan": 0}
    train = [json.loads(line) for line in (runs / "auto" / "metrics.jsonl").read_text().splitlines() if '"train"' in line]
    assert [r["loss_g"] == 0.0 for r in train[:3]] == [True, True, False]  # steps 2 and 4 warm up, step 6 plays

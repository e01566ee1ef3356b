"""The auto-encoder warm-up: the first ``warmup_steps`` train only the energy, on real data."""

from __future__ import annotations

import json
from pathlib import Path

from checks import one_line

from energan.checkpoint import load_checkpoint


def test_warmup_trains_the_energy_on_data_and_leaves_the_generator(cli, quick_config, tmp_path: Path) -> None:
    config = quick_config(steps=16)
    assert cli("train", "--config", config, "--name", "warm", "--set", "warmup_steps=16", "--set", "ema=false")[0] == 0
    warm = load_checkpoint(tmp_path / "runs" / "warm")
    records = [json.loads(line) for line in (tmp_path / "runs" / "warm" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert all(r["loss_g"] == 0.0 and r["loss_d"] == r["energy_real"] for r in train)  # f_D = mean D(x)
    assert train[-1]["energy_real"] < train[0]["energy_real"]  # it learns to reconstruct the data
    assert warm.training["optimizer_g"]["state"] == {}  # Adam never stepped the generator


def test_warmup_refuses_an_energy_unbounded_below(cli, quick_config) -> None:
    code, _, err = cli("train", "--config", quick_config(steps=2), "--energy", "logit", "--loss", "logistic", "--set", "warmup_steps=2")
    assert code == 1 and "warmup_steps 2: the warm-up lowers the energy of real data" in one_line(err)

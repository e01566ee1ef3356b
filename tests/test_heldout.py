"""The energy's generalisation gap: training, held-out and generated images' mean energy, by hand."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from checks import PixelMean
from torch import Tensor

from energan.components import Metric
from energan.data import ImageData
from energan.metrics.heldout import HeldoutEnergy, energy_gap


def _levels(count: int, offset: float) -> Tensor:
    """``count`` 2×2 images, image i filled with offset + i / 1000."""
    return (offset + torch.arange(count) / 1000).view(count, 1, 1, 1).expand(count, 1, 2, 2).clone()


def test_means_of_the_first_thousand_in_eval_mode_by_hand() -> None:
    data = ImageData(key="toy", train_images=_levels(1500, 0.0), test_images=_levels(1200, 0.5))
    energy = PixelMean()
    values = energy_gap(energy, data, lambda n: torch.full((n, 1, 2, 2), -0.25), torch.device("cpu"))
    # 1 000 of each, in chunks of 250: mean of i / 1000 for i < 1000 is 0.4995
    assert values.keys() == {"energy_train", "energy_heldout", "energy_samples"}
    assert abs(values["energy_train"] - 0.4995) < 1e-6
    assert abs(values["energy_heldout"] - 0.9995) < 1e-6
    assert abs(values["energy_samples"] + 0.25) < 1e-6
    assert energy.training  # put back


def test_a_small_test_split_sets_the_count() -> None:
    data = ImageData(key="toy", train_images=_levels(900, 0.0), test_images=_levels(300, 0.0))
    values = energy_gap(PixelMean(), data, lambda n: torch.zeros(n, 1, 2, 2) + n, torch.device("cpu"))
    assert abs(values["energy_train"] - 0.1495) < 1e-6 and values["energy_samples"] == 300  # 300 of each


def test_the_gap_is_a_metric_of_the_runs_energy() -> None:
    data = ImageData(key="toy", train_images=_levels(1500, 0.0), test_images=_levels(1200, 0.5))
    metric = HeldoutEnergy(PixelMean(), torch.device("cpu"))
    assert isinstance(metric, Metric) and metric.requires == frozenset()
    values = metric.evaluate(lambda n: torch.full((n, 1, 2, 2), -0.25), data, final=True)
    assert values == energy_gap(PixelMean(), data, lambda n: torch.full((n, 1, 2, 2), -0.25), torch.device("cpu"))


def test_no_test_split_no_values() -> None:
    assert energy_gap(PixelMean(), ImageData(key="toy", train_images=_levels(10, 0.0)), torch.zeros, torch.device("cpu")) == {}


def test_every_evaluation_logs_the_gap(cli, quick_config, tmp_path: Path) -> None:
    code, _, err = cli("train", "--config", quick_config(steps=4), "--name", "gap", "--set", "eval_every=2")
    assert code == 0, err
    records = [json.loads(line) for line in (tmp_path / "runs" / "gap" / "metrics.jsonl").read_text().splitlines()]
    evaluations = [r for r in records if r["kind"] == "eval"]
    assert [r["step"] for r in evaluations] == [2, 4]
    assert all(r["energy_train"] > 0 and r["energy_heldout"] > 0 and r["energy_samples"] > 0 for r in evaluations)

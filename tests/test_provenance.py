"""How a run was trained (world size, device) is recorded in its config.toml and metrics.jsonl,
and a resume neither refuses nor reads back that record. The torchrun test in test_distributed.py
checks a world of two."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import torch

from energan.distributed import World, provenance
from energan.plugins import PluginWarning


def starts(run: Path) -> list[dict[str, object]]:
    """The start lines of a run's metrics.jsonl, without their wall-clock time."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{key: value for key, value in record.items() if key != "time"} for record in records if record["kind"] == "start"]


def test_a_one_process_run_records_world_size_one_on_the_cpu(cli, quick_config, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "made"
    assert cli("train", "--config", quick_config(steps=2), "--name", "made")[0] == 0
    assert tomllib.loads((run / "config.toml").read_text())["provenance"] == {"world_size": 1, "device": "cpu"}
    assert starts(run) == [{"step": 0, "kind": "start", "world_size": 1, "device": "cpu"}]

    code, _, err = cli("train", "--resume", run, "--steps", "4")  # the record is no setting a resume could change
    assert code == 0, err
    assert starts(run) == [
        {"step": 0, "kind": "start", "world_size": 1, "device": "cpu"},
        {"step": 2, "kind": "start", "world_size": 1, "device": "cpu"},
    ]


def test_a_resume_reads_no_provenance_back(cli, quick_config, tmp_path: Path) -> None:
    """A run trained elsewhere (two GPUs, say) continues here: the record says how, it is no setting."""
    run = tmp_path / "runs" / "moved"
    assert cli("train", "--config", quick_config(steps=2), "--name", "moved")[0] == 0
    config = run / "config.toml"
    config.write_text(config.read_text().replace('world_size = 1\ndevice = "cpu"', 'world_size = 2\ndevice = "cuda"\ngpu = "NVIDIA H100"'))
    code, _, err = cli("train", "--resume", run, "--steps", "4")
    assert code == 0, err
    assert tomllib.loads(config.read_text())["provenance"] == {"world_size": 1, "device": "cpu"}  # this launch's


def test_provenance_names_the_gpu_on_cuda(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    assert provenance(World(1, 4, 1), torch.device("cuda", 1)) == {"world_size": 4, "device": "cuda", "gpu": "NVIDIA H100 80GB HBM3"}
    assert provenance(World(), torch.device("cpu")) == {"world_size": 1, "device": "cpu"}


def test_a_run_that_fails_before_its_first_log_draws_no_curves(cli, quick_config, recwarn: pytest.WarningsRecorder) -> None:
    """Its metrics.jsonl holds only the start line: nothing to draw, and no observer complains."""
    code, _, err = cli("train", "--config", quick_config(steps=4), "--loss", "magan")  # no warm-up: it stops at its first step
    assert code == 1 and "loss magan needs warmup_steps > 0" in err
    assert not [str(warning.message) for warning in recwarn if isinstance(warning.message, PluginWarning)]

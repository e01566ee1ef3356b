"""Data parallelism over torch.distributed: torchrun with the gloo backend on the CPU, 2 processes.

A 2-process run and a 1-process run with the same seed and global batch reach the same weights
up to the order of floating-point reductions: we allow 1e-5 (fp32) after 8 and 12 steps, with the
default generator's batch-norm (statistics of the global batch) and the pull-away term.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from distributed_workers import WORLD_SIZE, batch_norm_of, global_batch_norm, global_pullaway, in_group, replicas

from energan.benchmarks.photo_folders import write_photo_folder
from energan.checkpoint import load_checkpoint
from energan.distributed import World, world_from_environment
from energan.errors import ConfigError
from energan.kernels import pullaway

TOLERANCE = 1e-5
# the default generator (batch-norm over the global batch) and the pull-away term over the whole
# batch (scope global, the default): what one process computes
DDP_SETTINGS = ("--reg", "pullaway", "--set", "reg.pullaway.weight=0.5")


def torchrun(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc_per_node=2 --no-python energan ARGS`` (one thread per process)."""
    energan = Path(sys.executable).with_name("energan")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD_SIZE}", "--no-python", str(energan)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([*command, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def assert_close_weights(a: Path, b: Path) -> None:
    first, second = load_checkpoint(a), load_checkpoint(b)
    assert first.step == second.step
    for part in ("generator", "energy", "ema"):
        for key, value in first.model[part].items():
            torch.testing.assert_close(second.model[part][key], value, atol=TOLERANCE, rtol=0, msg=f"{part}.{key}")


def files(run: Path) -> set[str]:
    return {str(path.relative_to(run)) for path in run.rglob("*") if path.is_file() and path.name != "config.toml"}


def test_two_processes_train_and_resume_like_one(cli, quick_config, tmp_path: Path) -> None:
    config = quick_config(steps=8)
    runs = tmp_path / "runs"
    two = torchrun("train", "--config", config, "--name", "two", *DDP_SETTINGS, cwd=tmp_path)
    assert two.returncode == 0, two.stderr[-2000:]
    assert two.stdout.count("finished:") == 1  # one line for the run, from rank 0
    assert cli("train", "--config", config, "--name", "one", *DDP_SETTINGS)[0] == 0
    assert_close_weights(runs / "one", runs / "two")  # the ranks' own weights agreed: the run checks them at its end

    # rank 0 alone wrote the run: the files of a one-process run, each log line once
    assert files(runs / "two") == files(runs / "one")
    records = [json.loads(line) for line in (runs / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [2, 4, 6, 8]
    made = {"world_size": WORLD_SIZE, "device": "cpu"}  # how the run was trained, for the record
    assert tomllib.loads((runs / "two" / "config.toml").read_text())["provenance"] == made
    assert [{key: r[key] for key in made} for r in records if r["kind"] == "start"] == [made]

    resumed = torchrun("train", "--resume", runs / "two", "--set", "steps=12", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert cli("train", "--config", quick_config(steps=12), "--name", "one-12", *DDP_SETTINGS)[0] == 0
    assert_close_weights(runs / "one-12", runs / "two")
    records = [json.loads(line) for line in (runs / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [2, 4, 6, 8, 10, 12]


def test_global_pullaway_on_two_ranks_equals_one_process(tmp_path: Path) -> None:
    codes = torch.randn(8, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mp.spawn(in_group, args=(tmp_path / "rendezvous", global_pullaway, codes, tmp_path), nprocs=WORLD_SIZE)
    whole = codes.clone().requires_grad_(True)
    expected = pullaway(whole, impl="fused")
    expected.backward()
    for rank in range(WORLD_SIZE):
        saved = torch.load(tmp_path / f"rank{rank}.pt")
        torch.testing.assert_close(saved["value"], expected.detach(), atol=1e-12, rtol=0)
        torch.testing.assert_close(saved["grad"], World(rank, WORLD_SIZE).shard(whole.grad), atol=1e-12, rtol=0)


@pytest.mark.parametrize(("perturb", "expected"), [(False, "same"), (True, "different weights, first energy.bias")])
def test_replica_check_finds_a_rank_that_drifted(tmp_path: Path, perturb: bool, expected: str) -> None:
    mp.spawn(in_group, args=(tmp_path / "rendezvous", replicas, perturb, tmp_path), nprocs=WORLD_SIZE)
    assert all(expected in (tmp_path / f"rank{rank}.txt").read_text() for rank in range(WORLD_SIZE))


def test_world_shares_and_errors() -> None:
    world = World(rank=1, size=4)
    assert world.local_batch(64) == 16
    assert world.shard(torch.arange(8)).tolist() == [2, 3]
    with pytest.raises(ConfigError, match=r"batch_size 30 .* 4 processes; use a multiple of 4, e.g. 28"):
        world.local_batch(30)
    assert world_from_environment({}) == World()
    assert world_from_environment({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == World(1, 2, 1)
    with pytest.raises(ConfigError, match="incomplete or not integers"):
        world_from_environment({"WORLD_SIZE": "2"})


@pytest.mark.parametrize("shape", [(8, 3), (8, 3, 4, 5)], ids=["1d", "2d"])
def test_global_batch_norm_on_two_ranks_equals_one_process(tmp_path: Path, shape: tuple[int, ...]) -> None:
    """Outputs, input and weight gradients and running statistics of two ranks' shares equal one
    batch-norm on the whole batch (float64)."""
    generator = torch.Generator().manual_seed(0)
    batch = torch.randn(shape, generator=generator, dtype=torch.float64) * 3 + 2
    upstream = torch.randn(shape, generator=generator, dtype=torch.float64)
    mp.spawn(in_group, args=(tmp_path / "rendezvous", global_batch_norm, batch, upstream, tmp_path), nprocs=WORLD_SIZE)
    norm = batch_norm_of(batch).double()
    whole = batch.clone().requires_grad_(True)
    norm(whole.detach() * 2 + 1)
    y = norm(whole)
    (y * upstream).sum().backward()
    for rank in range(WORLD_SIZE):
        saved = torch.load(tmp_path / f"rank{rank}.pt")
        world = World(rank, WORLD_SIZE)
        torch.testing.assert_close(saved["y"], world.shard(y.detach()), atol=1e-12, rtol=0)
        torch.testing.assert_close(saved["grad"], world.shard(whole.grad), atol=1e-12, rtol=0)
        for grad, parameter in zip(saved["param_grads"], norm.parameters(), strict=True):
            torch.testing.assert_close(grad, parameter.grad, atol=1e-12, rtol=0)
        for key, value in norm.state_dict().items():
            torch.testing.assert_close(saved["state"][f"0.{key}"], value, atol=1e-12, rtol=0)


def test_the_documented_command_with_the_default_model(tmp_path: Path) -> None:
    """docs/scale.md's command as a user runs it: the default model (batch-norm generator,
    translation, warm-up, the shipped metric) on mnist5k; the replicas agree at every checkpoint."""
    result = torchrun("train", "--reg", "pullaway", "--steps", "40", "--device", "cpu", "--name", "default", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("finished:") == 1


def test_per_rank_batch_norm_keeps_the_replicas_equal(tmp_path: Path, quick_config) -> None:
    """sync_batch_norm = false: each rank normalises its own share, and every rank carries rank 0's
    running statistics, so the replica check at each checkpoint holds."""
    result = torchrun("train", "--config", quick_config(steps=8), "--name", "per-rank", "--set", "sync_batch_norm=false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_stateful_loss_sees_the_whole_batch(cli, quick_config, tmp_path: Path) -> None:
    """MAGAN's margin starts at the warm-up's mean real energy: from the energies of every process,
    so both processes hold the one-process run's margin (else their weights would part and the
    run's replica check would stop it)."""
    config = quick_config(steps=6)
    magan = ("--loss", "magan", "--set", "warmup_steps=2")
    two = torchrun("train", "--config", config, "--name", "two", *magan, cwd=tmp_path)
    assert two.returncode == 0, two.stderr[-2000:]
    assert cli("train", "--config", config, "--name", "one", *magan)[0] == 0
    runs = tmp_path / "runs"
    assert_close_weights(runs / "one", runs / "two")
    margins = [load_checkpoint(runs / name).training["loss"]["margin"] for name in ("one", "two")]
    torch.testing.assert_close(margins[1], margins[0], atol=TOLERANCE, rtol=0)


def test_two_processes_prepare_a_folder_once_and_train_on_it_like_one(cli, quick_config, tmp_path: Path) -> None:
    """Both ranks load the folder at once: one prepares it, the other waits for it, both read it."""
    photos = write_photo_folder(tmp_path / "photos", "celeba", 40)
    config = quick_config(steps=4)
    folder = ("--data", "folder", "--data-dir", photos, "--set", "data.size=32", "--set", "data.test_images=4")
    two = torchrun("train", "--config", config, "--name", "two", *folder, cwd=tmp_path)
    assert two.returncode == 0, two.stderr[-2000:]
    assert two.stderr.count("preparing 40 images") == 1 and two.stderr.count("prepared 40 images") == 1
    assert cli("train", "--config", config, "--name", "one", *folder)[0] == 0
    assert_close_weights(tmp_path / "runs" / "one", tmp_path / "runs" / "two")

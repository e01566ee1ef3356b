"""Nothing lost, nothing corrupted: exact resume around evaluations, one process per run, settings
that change on resume are used (or refused), recovery from a bad last.pt, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from checks import assert_same_weights, one_line
from plugin_fixtures import STOP_AT_STEP

from energan.checkpoint import load_checkpoint
from energan.errors import CheckpointError
from energan.lock import file_lock, run_lock

EXTRA = ("--set", "ema=true", "--set", "energy.dropout=0.3", "--reg", "pullaway")


def test_stop_with_an_evaluation_then_resume_is_exact(cli, quick_config, tmp_path: Path) -> None:
    """The evaluation at a stop (here a metric that draws random numbers) must not shift the
    training's RNG streams that the stop checkpoint saves: dropout would then differ on resume."""
    path = quick_config(steps=12)
    args = ("-p", "plugin_fixtures", "train", "--config", path, "--metric", "random_probe", *EXTRA)
    assert cli(*args, "--name", "straight")[0] == 0
    code, out, _ = cli(*args, "--name", "probe-stopped")
    assert code == 0 and f"at step {STOP_AT_STEP}" in out
    runs = tmp_path / "runs"
    records = [json.loads(line) for line in (runs / "probe-stopped" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "eval"] == [STOP_AT_STEP]  # the stop evaluated, once
    assert cli("-p", "plugin_fixtures", "train", "--resume", runs / "probe-stopped")[0] == 0
    assert_same_weights(load_checkpoint(runs / "straight"), load_checkpoint(runs / "probe-stopped"))


def test_a_second_process_on_a_locked_run_gets_one_line(cli, quick_config, tmp_path: Path) -> None:
    assert cli("train", "--config", quick_config(steps=4), "--name", "busy")[0] == 0
    run = tmp_path / "runs" / "busy"
    with run_lock(run):
        code, _, err = cli("train", "--resume", run, "--steps", "6")
    assert (
        code == 1
        and one_line(err) == f"energan: error: run {run} is in use by process {os.getpid()}; wait for it to finish or stop it first"
    )
    assert cli("train", "--resume", run, "--steps", "6")[0] == 0  # released


def test_a_run_killed_with_sigkill_is_not_left_locked(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from energan.lock import run_lock\nimport time\nwith run_lock(__import__('pathlib').Path({str(tmp_path)!r})):\n    print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    with run_lock(tmp_path):  # no stale lock
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())


def test_resume_uses_a_new_learning_rate(cli, quick_config, tmp_path: Path) -> None:
    assert cli("train", "--config", quick_config(steps=4), "--name", "lr", "--set", "keep_checkpoints=5")[0] == 0
    run = tmp_path / "runs" / "lr"
    assert cli("train", "--resume", run, "--steps", "8", "--set", "lr_g=0")[0] == 0
    before, after = load_checkpoint(run / "checkpoints" / "step-0000004.pt"), load_checkpoint(run)
    assert after.step == 8 and all(group["lr"] == 0 for group in after.training["optimizer_g"]["param_groups"])
    assert all(
        torch.equal(before.model["generator"][k], after.model["generator"][k])
        for k in before.model["generator"]
        if "running" not in k and "num_batches" not in k
    )


def test_resume_refuses_a_setting_that_cannot_change(cli, quick_config, tmp_path: Path) -> None:
    assert cli("train", "--config", quick_config(steps=4), "--name", "fixed")[0] == 0
    code, _, err = cli("train", "--resume", tmp_path / "runs" / "fixed", "--set", "energy.size=64")
    assert code == 1 and "--resume cannot change energy.size (32 → 64)" in one_line(err)


def test_a_corrupt_last_checkpoint_falls_back_to_the_newest_intact_one(cli, quick_config, tmp_path: Path) -> None:
    assert cli("train", "--config", quick_config(steps=8), "--name", "torn")[0] == 0
    checkpoints = tmp_path / "runs" / "torn" / "checkpoints"
    (checkpoints / "last.pt").write_bytes((checkpoints / "last.pt").read_bytes()[:100])  # a torn write
    (checkpoints / ".last.pt.abc.tmp").write_bytes(b"")  # what a kill during a write leaves
    with pytest.warns(UserWarning, match=r"last\.pt is corrupt .*; resuming from step-0000008\.pt \(step 8\) instead"):
        code, _, err = cli("train", "--resume", tmp_path / "runs" / "torn", "--steps", "12")
    assert code == 0, err
    assert load_checkpoint(checkpoints / "last.pt").step == 12 and not list(checkpoints.glob(".*.tmp"))


def test_a_malicious_checkpoint_gets_no_weights_only_false_advice(tmp_path: Path) -> None:
    import pickle

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": 2, "payload": Payload()}, path, pickle_module=pickle)
    with pytest.raises(Exception, match="it asks to run code, which energan never does") as error:
        load_checkpoint(path)
    assert "weights_only" not in str(error.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train", "--config", "."), "config file . cannot be read: Is a directory"),
        (("train", "--name", "n" * 300, "--steps", "2"), "File name too long"),
        (("train", "--name", "../escape", "--steps", "2"), "run name '../escape' must be a single directory name inside runs_dir"),
    ],
    ids=["config-is-a-directory", "name-too-long", "name-leaves-runs-dir"],
)
def test_bad_paths_get_one_line(cli, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    os.chdir(tmp_path)
    code, _, err = cli(*args, "--data", "digits", "--metric", "none")
    assert code == 1 and message in one_line(err)


def test_runs_dir_under_a_file_and_sample_output_under_a_file(cli, quick_config, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = cli("train", "--config", quick_config(steps=2), "--set", f"runs_dir={blocker}")
    assert code == 1 and "Not a directory" in one_line(err)
    assert cli("train", "--config", quick_config(steps=2), "--name", "ok")[0] == 0
    code, _, err = cli("sample", tmp_path / "runs" / "ok", "-o", blocker / "x.png")
    assert code == 1 and str(blocker) in one_line(err)


def test_exploding_energies_stop_before_a_checkpoint_is_written(cli, quick_config, tmp_path: Path) -> None:
    code, _, err = cli("train", "--config", quick_config(steps=8), "--name", "boom", "--set", "max_energy=0.01")
    line = one_line(err)
    assert code == 1 and "energies exploded past max_energy 0.01 between steps 0 and 2" in line and "E_real" in line
    assert not (tmp_path / "runs" / "boom" / "checkpoints" / "last.pt").exists()


def test_a_waiter_reads_the_pid_written_just_after_the_lock(tmp_path: Path) -> None:
    """The holder writes its PID just after taking the lock; a waiter looking in that instant reads
    it once written, not "unknown" (a race once seen in CI)."""
    import fcntl

    path = tmp_path / "entry.lock"
    holder = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(holder, fcntl.LOCK_EX)  # held, PID not written yet
    threading.Timer(0.05, lambda: os.pwrite(holder, b"4242\n", 0)).start()
    seen: list[str] = []

    def give_up(pid: str) -> None:
        seen.append(pid)
        raise CheckpointError("busy")

    with pytest.raises(CheckpointError), file_lock(path, busy=give_up):
        pass
    os.close(holder)
    assert seen == ["4242"]

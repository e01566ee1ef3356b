"""An interrupted and resumed run ends with the same weights as an uninterrupted one, bit for bit."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from checks import assert_same_weights
from plugin_fixtures import STOP_AT_STEP

from energan.checkpoint import load_checkpoint

# dropout, translation and two D steps per G step exercise every random stream; EMA and the lr decay their state
EXTRA = (
    "--set",
    "d_steps=2",
    "--set",
    "lr_decay_start=0.5",
    "--set",
    "ema=true",
    "--set",
    "ema_decay=0.9",
    "--set",
    "energy.dropout=0.2",
    "--set",
    "augment=translation",
    "--reg",
    "pullaway",
)


def test_stopped_then_resumed_equals_uninterrupted(cli, quick_config, tmp_path: Path) -> None:
    path = quick_config(steps=12)
    assert cli("-p", "plugin_fixtures", "train", "--config", path, "--name", "straight", *EXTRA)[0] == 0
    code, out, _ = cli("-p", "plugin_fixtures", "train", "--config", path, "--name", "run-stopped", *EXTRA)
    assert code == 0 and out.startswith("stopped: ") and f"at step {STOP_AT_STEP}" in out
    runs = tmp_path / "runs"
    assert load_checkpoint(runs / "run-stopped").step == STOP_AT_STEP
    code, out, _ = cli("train", "--resume", runs / "run-stopped")
    assert code == 0 and out.startswith("finished:")
    assert_same_weights(load_checkpoint(runs / "straight"), load_checkpoint(runs / "run-stopped"))
    records = [json.loads(line) for line in (runs / "run-stopped" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [2, 4, 6, 8, 10, 12]  # none lost, none twice


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 0), (signal.SIGTERM, 128 + signal.SIGTERM)], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_checkpoints_and_resume_is_exact(quick_config, tmp_path: Path, stop: signal.Signals, code: int) -> None:
    """A real SIGINT (Ctrl-C) or SIGTERM (a scheduler's preemption) to a CLI process: it finishes the
    step, evaluates, checkpoints and exits (SIGTERM with 143, as schedulers expect); resume completes."""
    path = quick_config(steps=600)
    runs = tmp_path / "runs"
    energan = [sys.executable, "-m", "energan.cli"]
    process = subprocess.Popen(
        [*energan, "train", "--config", path, "--name", "interrupted"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    log = runs / "interrupted" / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not (log.exists() and log.read_text().count("\n") >= 5) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(stop)
    out, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    stopped_at = load_checkpoint(runs / "interrupted").step
    assert out.startswith("stopped:") and 0 < stopped_at < 600
    subprocess.run([*energan, "train", "--resume", runs / "interrupted"], check=True, capture_output=True)
    subprocess.run([*energan, "train", "--config", path, "--name", "straight"], check=True, capture_output=True)
    assert_same_weights(load_checkpoint(runs / "interrupted"), load_checkpoint(runs / "straight"))


def test_a_torn_metrics_line_is_cut_with_a_warning_and_the_resumed_run_logs(cli, quick_config, tmp_path: Path) -> None:
    """A kill during an append leaves half a JSON line: resume drops it, warns, and keeps logging."""
    run = tmp_path / "runs" / "torn"
    assert cli("train", "--config", quick_config(steps=4), "--name", "torn", "--set", "log_every=2")[0] == 0
    log = run / "metrics.jsonl"
    whole = log.read_text()
    log.write_bytes(whole.encode() + b'{"step": 6, "time": 17962\xff')  # torn mid-record, bytes that are not UTF-8
    with pytest.warns(UserWarning, match=f"line {whole.count(chr(10)) + 1} is not a whole metrics record"):
        code, _, err = cli("train", "--resume", run, "--steps", "8")
    assert code == 0, err
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines() if '"train"' in line]
    assert steps == [2, 4, 6, 8]

"""BEGAN, MAGAN and a third-party stateful loss train from the CLI, log their state, and resume bit
for bit; the family's sweep grids resolve."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from checks import assert_same_weights, one_line
from plugin_fixtures import STOP_AT_STEP

from energan.checkpoint import load_checkpoint
from energan.config import resolve
from energan.plugins import load_plugins
from energan.records import SPEED
from energan.sweep.families import SweepSpec, load_family
from energan.sweep.grids import load_grid

ROOT = Path(__file__).resolve().parents[1]
# 1 437 training digits in batches of 128: 11 batches an epoch, so 12 steps of 2 energy steps cross
# two epoch ends (batches 10 and 21), one before the stop at step 6 and one after it
EPOCHS = ("--set", "batch_size=128", "--set", "d_steps=2")

TRACKING_LOSS = '''
    """A third-party stateful loss: a hinge whose margin is twice a moving average of the real energy."""

    import torch

    from energan import hookimpl
    from energan.components import Loss


    class TrackingMarginLoss(Loss):
        domain = (0.0, float("inf"))

        def __init__(self):
            self.average = torch.zeros(())
            self.counts = {"updates": 0, "warm": 0, "epochs": 0}

        def discriminator(self, s_real, s_fake):
            return s_real.mean() + torch.relu(2 * self.average - s_fake).mean()

        def generator(self, s_fake):
            return s_fake.mean()

        def update(self, s_real, s_fake, context):
            self.average = 0.9 * self.average.to(s_real.device) + 0.1 * s_real.mean()
            self.counts = {
                "updates": self.counts["updates"] + 1,
                "warm": self.counts["warm"] + context.warming_up,
                "epochs": self.counts["epochs"] + context.epoch_end,
            }

        def diagnostics(self, s_real, s_fake):
            return {"tracked_margin": 2 * self.average}

        def state_dict(self):
            return {"average": self.average, "counts": dict(self.counts)}

        def load_state_dict(self, state):
            self.average, self.counts = state["average"], dict(state["counts"])


    @hookimpl
    def register_losses(register):
        register("tracking-margin", TrackingMarginLoss)
'''


def records(run: Path) -> list[dict[str, Any]]:
    """The training lines of metrics.jsonl, without the wall-clock fields."""
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time", *SPEED)} for r in lines if r["kind"] == "train"]


def assert_same_state(left: Any, right: Any) -> None:
    if isinstance(left, torch.Tensor):
        assert torch.equal(left, right)
    elif isinstance(left, dict):
        assert left.keys() == right.keys()
        for key in left:
            assert_same_state(left[key], right[key])
    else:
        assert left == right


def stopped_and_straight(cli, config: Path, tmp_path: Path, *args: Any, plugins: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """An uninterrupted run and one stopped at STOP_AT_STEP, then resumed, with the same settings:
    both ended with the same weights, optimizer state, loss state and logged values."""
    loaded = [item for plugin in plugins for item in ("-p", plugin)]
    runs = tmp_path / "runs"
    assert cli(*loaded, "train", "--config", config, "--name", "straight", *args)[0] == 0
    code, out, err = cli("-p", "plugin_fixtures", *loaded, "train", "--config", config, "--name", "run-stopped", *args)
    assert code == 0 and f"at step {STOP_AT_STEP}" in out, err
    assert load_checkpoint(runs / "run-stopped").step == STOP_AT_STEP
    code, out, err = cli(*loaded, "train", "--resume", runs / "run-stopped")
    assert code == 0 and out.startswith("finished:"), err
    straight, resumed = load_checkpoint(runs / "straight"), load_checkpoint(runs / "run-stopped")
    assert_same_weights(straight, resumed)
    assert_same_state(straight.training["loss"], resumed.training["loss"])
    assert records(runs / "straight") == records(runs / "run-stopped")  # every logged value, k and margin included
    return runs / "straight", runs / "run-stopped"


def test_began_logs_k_and_m_global_and_resumes_exactly(cli, quick_config, tmp_path: Path) -> None:
    # with spectral norm (power-iteration buffers), the gradient penalty (ε from the global RNG) and dropout
    extra = ("--set", "energy.distance=l1", "--set", "energy.spectral_norm=true", "--set", "energy.dropout=0.2", "--reg", "gp")
    straight, _ = stopped_and_straight(cli, quick_config(steps=12), tmp_path, "--loss", "began", *EPOCHS, *extra)
    logged = records(straight)
    assert [r["step"] for r in logged] == [2, 4, 6, 8, 10, 12]
    assert all(0.0 <= r["k"] <= 1.0 and r["reg_gp"] >= 0 for r in logged)
    for r in logged:  # M_global = L(x) + |γ·L(x) − L(G(z))| of the last energy step's batch
        assert r["m_global"] == pytest.approx(r["energy_real"] + abs(0.5 * r["energy_real"] - r["energy_fake"]), rel=1e-5)
    assert load_checkpoint(straight).training["loss"]["k"].item() == pytest.approx(logged[-1]["k"])


def test_magan_logs_its_margin_and_resumes_exactly_mid_epoch(cli, quick_config, tmp_path: Path) -> None:
    extra = ("--set", "warmup_steps=2", "--reg", "r1")
    straight, _ = stopped_and_straight(cli, quick_config(steps=12), tmp_path, "--loss", "magan", *EPOCHS, *extra)
    logged = records(straight)
    assert all(r["margin"] > 0 and "margin_active" in r and r["reg_r1"] >= 0 for r in logged)
    state = load_checkpoint(straight).training["loss"]
    assert state["warmup_batches"] == 4  # 2 warm-up steps of 2 energy steps
    assert state["epoch_batches"] == 2  # batches 22 and 23 of the third epoch (epochs end at batches 10 and 21)
    assert state["margin"].item() == pytest.approx(logged[-1]["margin"])
    assert torch.isfinite(state["previous_fake"])  # an epoch has ended since the warm-up


def test_third_party_stateful_loss_trains_and_resumes_exactly(cli, quick_config, tmp_path: Path) -> None:
    plugin = tmp_path / "tracking_loss.py"
    plugin.write_text(textwrap.dedent(TRACKING_LOSS))
    straight, _ = stopped_and_straight(
        cli, quick_config(steps=12), tmp_path, "--loss", "tracking-margin", "--set", "warmup_steps=2", *EPOCHS, plugins=(str(plugin),)
    )
    state = load_checkpoint(straight).training["loss"]
    # one update per energy step: 12 steps × 2, the first 2 steps warming up, two epoch ends
    assert state["counts"] == {"updates": 24, "warm": 4, "epochs": 2}
    assert all("tracked_margin" in r for r in records(straight))


@pytest.mark.parametrize(
    "loss", [("--loss", "began", "--set", "energy.distance=l1"), ("--loss", "magan", "--set", "warmup_steps=2")], ids=["began", "magan"]
)
def test_a_stateful_loss_resumes_exactly_after_kill_9(cli, quick_config, tmp_path: Path, loss: tuple[str, ...]) -> None:
    """kill -9 at whatever step the run has reached; the resume continues from the last checkpoint
    written (step S) and ends, 8 steps later, where an uninterrupted run of S + 8 steps ends."""
    config = quick_config(steps=100_000)
    runs = tmp_path / "runs"
    killed = subprocess.Popen(
        [sys.executable, "-m", "energan.cli", "train", "--config", str(config), "--name", "killed", *EPOCHS, *loss],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (runs / "killed" / "checkpoints" / "step-0000008.pt").exists():
            assert killed.poll() is None and time.monotonic() < deadline, "the run to kill ended or never checkpointed"
            time.sleep(0.05)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a kill during a write leaves a torn last.pt: resume falls back, with a warning
        reached = load_resumable_step(runs / "killed") + 8
        assert cli("train", "--resume", runs / "killed", "--steps", reached)[0] == 0
    assert cli("train", "--config", quick_config(steps=reached), "--name", "straight", *EPOCHS, *loss)[0] == 0
    straight, resumed = load_checkpoint(runs / "straight"), load_checkpoint(runs / "killed")
    assert resumed.step == straight.step == reached
    assert_same_weights(straight, resumed)
    assert_same_state(straight.training["loss"], resumed.training["loss"])


def load_resumable_step(run: Path) -> int:
    """The step a resume of ``run`` continues from."""
    from energan.rundir import load_resumable
    from energan.runfiles import RunFiles

    return load_resumable(RunFiles(run)).step


def test_magan_without_warmup_is_one_line(cli, quick_config) -> None:
    code, _, err = cli("train", "--config", quick_config(steps=4), "--loss", "magan")
    assert code == 1 and "loss magan needs warmup_steps > 0" in one_line(err)


def test_began_refuses_an_energy_unbounded_below(cli, quick_config) -> None:
    code, _, err = cli("train", "--config", quick_config(steps=2), "--loss", "began", "--energy", "logit")
    assert code == 1 and "loss 'began' needs energies ≥ 0" in one_line(err)


# ---------------------------------------------------------------- the comparison's sweeps


@pytest.mark.parametrize("grid", sorted((ROOT / "docs" / "results" / "screens").glob("family-*.toml")), ids=lambda p: p.stem)
def test_family_grid_points_resolve(grid: Path) -> None:
    family = grid.stem.removeprefix("family-")
    spec = SweepSpec(load_grid(str(grid)), load_family(family), steps=12000)
    registries = load_plugins().registries
    points = list(spec.grid.points(family))
    assert len(points) == 10
    for point in points:
        config = resolve(spec.config(point, "runs", "check"), registries)
        assert config.loss.name == family

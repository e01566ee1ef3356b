"""The TensorBoard observer: off unless asked for; events that match metrics.jsonl; resume appends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from energan.benchmarks.quick_config import QUICK_CONFIG
from energan.cli import main
from energan.images import MIN_SIDE
from energan.records import SPEED, START

RUN = ("--set", "eval_every=4")  # 8 steps: scalars at 2, 4, 6, 8; samples at 4 and 8


def train(runs: Path, *args: Any, plugins: tuple[str, ...] = ()) -> int:
    """``energan [-p PLUGIN] train`` on the quick digits config, runs under ``runs``."""
    config = runs / "quick.toml"
    config.write_text(QUICK_CONFIG.format(steps=8, runs=runs))
    return main([*plugins, "train", "--config", str(config), *RUN, *map(str, args)])


def events(run: Path) -> Any:
    """The run's TensorBoard events, as TensorBoard reads them (stale events purged)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    return EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0}).Reload()


def logged(run: Path) -> dict[str, list[tuple[int, float]]]:
    """metrics.jsonl as TensorBoard tags: train/<name> and eval/<name> -> [(step, value)] (a launch's
    start line records how it trains: no scalars)."""
    series: dict[str, list[tuple[int, float]]] = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        for name, value in record.items():
            if name not in ("step", "time", "kind") and record["kind"] != START:
                series.setdefault(f"{record['kind']}/{name}", []).append((record["step"], value))
    return series


def assert_scalars_match_metrics_log(run: Path) -> None:
    accumulator, expected = events(run), logged(run)
    assert set(accumulator.Tags()["scalars"]) == set(expected)
    for tag, points in expected.items():
        scalars = accumulator.Scalars(tag)
        assert [s.step for s in scalars] == [step for step, _ in points], tag
        assert [s.value for s in scalars] == pytest.approx([value for _, value in points], rel=1e-5), tag


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny digits run twice: with ``--log tensorboard`` (tb) and without (plain)."""
    pytest.importorskip("tensorboard")
    runs = tmp_path_factory.mktemp("runs")
    assert train(runs, "--name", "tb", "--log", "tensorboard") == 0
    assert train(runs, "--name", "plain") == 0
    return runs


def test_scalars_match_metrics_jsonl(runs: Path) -> None:
    assert_scalars_match_metrics_log(runs / "tb")
    assert {"train/loss_d", "train/energy_fake", "train/it_per_s", "train/margin_active"} <= set(logged(runs / "tb"))


def test_sample_grid_at_each_evaluation(runs: Path) -> None:
    images = events(runs / "tb").Images("samples")
    assert [image.step for image in images] == [4, 8]
    side = 8 * (MIN_SIDE + 2) + 2  # 64 enlarged 8×8 digits, 8 a row, 2-pixel padding, as samples/*.png
    assert {(image.width, image.height) for image in images} == {(side, side)}


def test_off_by_default_and_training_is_unchanged(runs: Path) -> None:
    assert not (runs / "plain" / "tensorboard").exists()
    assert (runs / "tb" / "tensorboard").is_dir()
    speed = {f"train/{key}" for key in SPEED}
    training = {tag: points for tag, points in logged(runs / "tb").items() if tag not in speed}
    assert training == {tag: points for tag, points in logged(runs / "plain").items() if tag not in speed}


def test_resume_appends_and_drops_events_past_the_checkpoint(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    assert train(tmp_path, "--name", "tb-stopped", "--log", "tensorboard", plugins=("-p", "plugin_fixtures")) == 0
    run = tmp_path / "tb-stopped"  # the fixture plugin stopped it at step 6
    with SummaryWriter(str(run / "tensorboard")) as stale:  # as if it had crashed after its checkpoint
        stale.add_scalar("train/loss_d", 99.0, 7)
    assert main(["train", "--resume", str(run)]) == 0
    assert_scalars_match_metrics_log(run)  # 2, 4, 6 kept, 7 dropped, 8 appended
    assert [image.step for image in events(run).Images("samples")] == [4, 6, 8]  # 6: the evaluation at the stop


def test_point_data_gets_a_scatter_plot_and_metrics(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    code = main(
        [
            "train",
            "--data",
            "grid25",
            "--metric",
            "mode_coverage",
            "--steps",
            "4",
            "--name",
            "points",
            "--set",
            f"runs_dir={tmp_path}",
            "--set",
            "data.points=500",
            "--set",
            "metrics.mode_coverage.samples=100",
            "--device",
            "cpu",
            "--log",
            "tensorboard",
        ]
    )
    assert code == 0
    assert_scalars_match_metrics_log(tmp_path / "points")
    assert "eval/modes_covered" in logged(tmp_path / "points")
    (image,) = events(tmp_path / "points").Images("samples")
    assert (image.step, image.width, image.height) == (4, 500, 500)  # the 5 × 5 inch scatter at 100 dpi


def test_unknown_log_value_is_a_one_line_error(cli, quick_config) -> None:
    code, _, err = cli("train", "--config", quick_config(), "--log", "tensorbord")
    assert code == 1
    assert err == "energan: error: log: 'tensorbord' is not an observer (did you mean 'tensorboard'?); valid: tensorboard\n"


def test_missing_package_fails_at_the_start(cli, quick_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    code, _, err = cli("train", "--config", quick_config(), "--name", "none", "--log", "tensorboard")
    assert (code, err) == (1, "energan: error: --log tensorboard needs the tensorboard package: pip install 'energan[tensorboard]'\n")
    assert not (tmp_path / "runs" / "none" / "checkpoints").exists()


def test_loading_plugins_does_not_import_tensorboard() -> None:
    code = "import sys; from energan.plugins import load_plugins; load_plugins(); print('tensorboard' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"

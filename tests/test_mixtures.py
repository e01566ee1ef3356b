"""The 2-D mixtures ring8 / grid25 and the mode-coverage metric, on hand-built sample sets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from energan.data.mixtures import SCALE, load_mixture, mixture_modes
from energan.errors import DataError
from energan.metrics.modes import ModeCoverage, mode_statistics

STD = 0.05


def test_grid25_and_ring8_modes_are_where_the_literature_puts_them() -> None:
    grid = mixture_modes("grid25")
    assert grid.shape == (25, 2) and set(grid[:, 0].tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    ring = mixture_modes("ring8")
    assert ring.shape == (8, 2) and torch.allclose(ring.norm(dim=1), torch.full((8,), 2.0))
    assert torch.allclose(ring[2], torch.tensor([0.0, 2.0]), atol=1e-6)  # 90° apart


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mixture_data_is_points_in_range_around_the_modes(name: str) -> None:
    data = load_mixture(name, points=4000, std=0.02, seed=0)
    assert data.train_images.shape == (4000, 2, 1, 1) and data.shape == (2, 1, 1)
    assert data.train_images.abs().max() <= 1.0
    assert data.mode_std == pytest.approx(0.02 / SCALE[name])
    points = data.train_images.flatten(1)
    nearest = torch.cdist(points, data.modes).min(dim=1).values
    assert (nearest <= 5 * data.mode_std).all()
    statistics = mode_statistics(points, data.modes, data.mode_std, sigmas=3.0, min_samples=20)
    assert statistics["modes_covered"] == len(data.modes) and statistics["high_quality_share"] > 0.98
    assert torch.equal(load_mixture(name, 4000, 0.02, seed=0).train_images, data.train_images)


def _around(modes: torch.Tensor, per_mode: int, spread: float) -> torch.Tensor:
    noise = spread * torch.randn(len(modes) * per_mode, 2, generator=torch.Generator().manual_seed(0))
    return modes.repeat_interleave(per_mode, dim=0) + noise


def test_all_modes_one_mode_and_off_manifold_by_hand() -> None:
    modes = mixture_modes("grid25")
    all_modes = mode_statistics(_around(modes, 40, 0.5 * STD), modes, STD, 3.0, 20)
    assert all_modes == {"modes_covered": 25.0, "modes_total": 25.0, "high_quality_share": pytest.approx(1.0)}
    one_mode = mode_statistics(_around(modes[:1], 1000, 0.5 * STD), modes, STD, 3.0, 20)
    assert one_mode["modes_covered"] == 1.0 and one_mode["high_quality_share"] == pytest.approx(1.0)
    between = (modes[:-1] + 1.0).repeat_interleave(10, dim=0)  # (x+1, y+1): √2 away from every mode
    off = mode_statistics(between, modes, STD, 3.0, 20)
    assert off["modes_covered"] == 0.0 and off["high_quality_share"] == 0.0


def test_thresholds_count_exactly() -> None:
    modes = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    samples = torch.tensor([[0.0, 0.29]] * 19 + [[0.0, 0.31]] + [[10.0, 0.0]] * 20)
    statistics = mode_statistics(samples, modes, std=0.1, sigmas=3.0, min_samples=20)
    # 19 good samples at mode 0 (one is 3.1σ away): not covered; 20 at mode 1: covered
    assert statistics["modes_covered"] == 1.0
    assert statistics["high_quality_share"] == pytest.approx(39 / 40)


def test_mode_coverage_needs_declared_modes() -> None:
    from energan.data.digits import load_digits

    with pytest.raises(DataError, match="declares no modes"):
        ModeCoverage(100, 3.0, 20).evaluate(lambda n: torch.zeros(n, 1, 8, 8), load_digits(8))


def test_train_on_grid25_scores_mode_coverage_and_draws_scatter_plots(cli, tmp_path: Path) -> None:
    code, _out, err = cli(
        "train",
        "--data",
        "grid25",
        "--metric",
        "mode_coverage",
        "--reg",
        "pullaway",
        "--steps",
        "20",
        "--name",
        "grid",
        "--set",
        f"runs_dir={tmp_path}",
        "--set",
        "eval_every=10",
        "--set",
        "data.points=2000",
        "--set",
        "metrics.mode_coverage.samples=500",
        "--device",
        "cpu",
    )
    assert code == 0, err
    run = tmp_path / "grid"
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    assert [e["step"] for e in evals] == [10, 20]
    assert all(e["modes_total"] == 25 and 0 <= e["modes_covered"] <= 25 and 0 <= e["high_quality_share"] <= 1 for e in evals)
    assert "inception_score" not in evals[0]
    assert (run / "samples" / "step-0000020.png").read_bytes().startswith(b"\x89PNG")
    assert "mode_coverage" in (run / "config.toml").read_text()


def test_inception_score_on_unlabelled_points_is_a_clear_error(cli, tmp_path: Path) -> None:
    code, _, err = cli(
        "train",
        "--data",
        "ring8",
        "--steps",
        "2",
        "--name",
        "r",
        "--set",
        f"runs_dir={tmp_path}",
        "--set",
        "data.points=200",
        "--device",
        "cpu",
    )
    assert code == 1 and "metric 'inception_score' needs test split but dataset 'ring8" in err
    assert not (tmp_path / "r").exists()  # refused before the run started


def test_metric_none_trains_without_metrics(cli, tmp_path: Path) -> None:
    code, _, err = cli(
        "train",
        "--data",
        "ring8",
        "--metric",
        "none",
        "--steps",
        "4",
        "--name",
        "r",
        "--set",
        f"runs_dir={tmp_path}",
        "--set",
        "data.points=200",
        "--device",
        "cpu",
    )
    assert code == 0, err
    records = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert all(not math.isnan(r["loss_d"]) for r in records if r["kind"] == "train")
    assert [set(r) for r in records if r["kind"] == "eval"] == [{"step", "time", "kind"}]  # no metric values
    assert (tmp_path / "r" / "samples" / "step-0000004.png").exists()  # the final scatter plot still


@pytest.mark.parametrize(
    "family", [[], ["--reg", "none"], ["--loss", "logistic", "--energy", "logit", "--reg", "none"]], ids=["ebgan-pt", "ebgan", "gan"]
)
def test_grid25_example_config_runs(cli, tmp_path: Path, family: list[str]) -> None:
    config = Path(__file__).parents[1] / "examples" / "configs" / "grid25.toml"
    code, _, err = cli(
        "train",
        "--config",
        config,
        *family,
        "--steps",
        "3",
        "--name",
        "x",
        "--set",
        f"runs_dir={tmp_path}",
        "--set",
        "data.points=500",
        "--set",
        "metrics.mode_coverage.samples=100",
        "--device",
        "cpu",
    )
    assert code == 0, err
    assert '"modes_covered"' in (tmp_path / "x" / "metrics.jsonl").read_text()


def test_evaluate_with_another_metric_appends_to_the_metrics_log(cli, tmp_path: Path) -> None:
    code, _, err = cli(
        "train",
        "--data",
        "ring8",
        "--metric",
        "none",
        "--steps",
        "4",
        "--name",
        "r",
        "--set",
        f"runs_dir={tmp_path}",
        "--set",
        "data.points=300",
        "--device",
        "cpu",
    )
    assert code == 0, err
    code, out, err = cli("evaluate", tmp_path / "r", "--metric", "mode_coverage")
    assert code == 0, err
    assert "modes_covered" in out and "high_quality_share" in out
    last = json.loads((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["kind"] == "evaluate" and last["modes_total"] == 8
    code, _, err = cli("evaluate", tmp_path / "r", "--metric", "mode_coverag")
    assert code == 1 and "unknown metric 'mode_coverag'" in err and "mode_coverage" in err

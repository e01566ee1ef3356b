"""The curves observer and ``energan plot``: ``curves.png`` after real runs, drawn from the very
values ``metrics.jsonl`` holds."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from checks import one_line
from matplotlib.colors import to_rgba
from PIL import Image

import energan.plots
from energan import hookimpl, load_plugins
from energan.benchmarks.quick_config import QUICK_CONFIG
from energan.config import TrainConfig
from energan.plots import DPI, ROW_HEIGHT, WIDTH, default_panels, draw, read_run, read_series
from energan.records import SPEED, START
from energan.runfiles import RunFiles
from energan.trainer import train

STEPS = 8  # logs at 2, 4, 6, 8; evaluations at 4 and 8


class Brightness:
    """A metric with a spread and a real-images reference, like the Inception Score's."""

    name = "brightness"
    higher_is_better = True
    requires = frozenset()

    def prepare(self, data):
        """Nothing to cache."""

    def evaluate(self, generate: Callable[[int], Any], data: Any, final: bool) -> dict[str, float]:
        means = generate(32).flatten(1).mean(dim=1)
        return {"brightness": means.mean().item(), "brightness_std": means.std().item(), "brightness_real": 0.0}


class MetricAndInterrupt:
    """Registers the brightness metric; Ctrl-C (once ``metrics.jsonl`` has the line) at step ``interrupt_at``."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.interrupt_at = interrupt_at

    @hookimpl
    def register_metrics(self, register: Any) -> None:
        register("brightness", Brightness)

    @hookimpl(trylast=True)
    def on_log(self, run: Any, step: int, logs: dict[str, float]) -> None:
        if step == self.interrupt_at:
            raise KeyboardInterrupt


def config(runs: Path, name: str, **settings: Any) -> TrainConfig:
    raw = tomllib.loads(QUICK_CONFIG.format(steps=STEPS, runs=runs))
    raw.update({"name": name, "eval_every": 4, "reg": {"pullaway": {}}, "metrics": {"brightness": {}}}, **settings)
    return TrainConfig.from_dict(raw)


def logged(run: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """metrics.jsonl parsed here, independently: kind -> key -> [(step, value)]."""
    series: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        for key, value in record.items():
            if key not in ("step", "time", "kind") and record["kind"] != START:
                series.setdefault(record["kind"], {}).setdefault(key, []).append((record["step"], value))
    return series


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str, int]]]:
    """EBGAN-PT with a metric, the same interrupted at step 6, and MAGAN (its margin is logged);
    every figure drawn is recorded with the last line its metrics.jsonl held then (kind, step)."""
    runs = tmp_path_factory.mktemp("runs")
    drawn: list[tuple[str, str, int]] = []
    write_curves = energan.plots.write_curves

    def recording(directory: Path) -> Path:
        last = json.loads((directory / "metrics.jsonl").read_text().splitlines()[-1])
        drawn.append((directory.name, last["kind"], last["step"]))
        return write_curves(directory)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(energan.plots, "write_curves", recording)
        for name, settings in (("seed0", {}), ("magan", {"loss": {"name": "magan"}, "warmup_steps": 2, "reg": {}, "eval_every": 0})):
            plugins = load_plugins()
            plugins.manager.register(MetricAndInterrupt(), name="brightness")
            assert train(config(runs, name, **settings), plugins=plugins).status == "finished"
        plugins = load_plugins()
        plugins.manager.register(MetricAndInterrupt(interrupt_at=6), name="brightness")
        with pytest.raises(KeyboardInterrupt):
            train(config(runs, "seed1", seed=1), plugins=plugins)
    return runs, drawn


def test_curves_are_drawn_after_each_evaluation_line_and_at_the_end_when_no_evaluation_did(runs) -> None:
    directory, drawn = runs
    assert [point for point in drawn if point[0] == "seed0"] == [("seed0", "eval", 4), ("seed0", "eval", 8)]  # not again at the end
    assert [point for point in drawn if point[0] == "seed1"] == [("seed1", "eval", 4), ("seed1", "train", 6)]  # interrupted at 6
    assert not list(directory.glob("*/.curves.png.*"))  # no temporary file left


def test_curves_png_has_a_panel_per_group_and_is_not_blank(runs) -> None:
    directory, _ = runs
    run = read_run(directory / "seed0")
    assert [panel.title for panel in default_panels([run])] == [
        "losses",
        "mean energy",
        "regularizers",
        "loss diagnostics",
        "energy in eval mode",
        "brightness",
    ]
    with Image.open(RunFiles(directory / "seed0").curves) as image:
        assert image.format == "PNG" and image.size == (WIDTH * DPI, 3 * ROW_HEIGHT * DPI)  # 6 panels: 3 rows of 2
        pixels = np.asarray(image.convert("RGB")).astype(np.int32)
    colours = np.unique(pixels[..., 0] << 16 | pixels[..., 1] << 8 | pixels[..., 2])
    assert pixels.std() > 0 and len(colours) > 10


def test_read_series_holds_every_number_of_metrics_jsonl(runs) -> None:
    directory, _ = runs
    for name in ("seed0", "seed1", "magan"):
        expected = logged(directory / name)
        series = read_series(directory / name / "metrics.jsonl")
        assert series.keys() == expected.keys()
        for kind, by_key in expected.items():
            assert series[kind].keys() == by_key.keys()
            for key, points in by_key.items():
                assert list(zip(*series[kind][key], strict=True)) == points, (name, kind, key)


def test_odd_lines_are_dropped_with_a_warning_and_the_rest_is_read(runs, tmp_path: Path) -> None:
    """A torn tail, bytes that are not UTF-8, JSON that is not a record: each named, none fatal."""
    directory, _ = runs
    odd = tmp_path / "metrics.jsonl"
    whole = (directory / "seed0" / "metrics.jsonl").read_bytes()
    odd.write_bytes(whole + b'[1, 2]\n{"kind": "eval"}\n\xff\xfe\n{"step": 9, "ti')
    first = whole.count(b"\n") + 1
    with pytest.warns(UserWarning) as caught:
        series = read_series(odd)
    assert [f"line {first + i} is not a whole metrics record" in str(w.message) for i, w in enumerate(caught)] == [True] * 4
    assert series == read_series(directory / "seed0" / "metrics.jsonl")


def lines(figure: Any) -> dict[str, Any]:
    return {line.get_gid(): line for axis in figure.axes for line in axis.get_lines() if line.get_gid()}


def test_the_figure_draws_the_logged_values(runs) -> None:
    directory, _ = runs
    run = read_run(directory / "seed0")
    expected = logged(directory / "seed0")
    figure = draw([run], default_panels([run]))
    drawn = lines(figure)
    train_keys = set(expected["train"]) - set(SPEED)
    evaluated = {"seed0:brightness", "seed0:brightness_real", *(f"seed0:energy_{kind}" for kind in ("train", "heldout", "samples"))}
    assert {f"seed0:{key}" for key in train_keys} | evaluated | {"seed0:margin"} == set(drawn)
    for kind, keys in (("train", train_keys), ("eval", ("brightness", "brightness_real"))):
        for key in keys:
            steps, values = zip(*expected[kind][key], strict=True)
            assert list(drawn[f"seed0:{key}"].get_xdata()) == list(steps), key
            assert list(drawn[f"seed0:{key}"].get_ydata()) == list(values), key
    margin = tomllib.loads((directory / "seed0" / "config.toml").read_text())["loss"]["margin"]
    assert list(drawn["seed0:margin"].get_ydata()) == [margin, margin]  # a horizontal line
    band = next(c for axis in figure.axes for c in axis.collections if c.get_gid() == "seed0:brightness_std")
    edge = band.get_paths()[0].vertices[:, 1]
    for (_, mean), (_, std) in zip(expected["eval"]["brightness"], expected["eval"]["brightness_std"], strict=True):
        assert np.isclose(edge, mean - std).any() and np.isclose(edge, mean + std).any()


def test_an_adaptive_margin_is_drawn_as_its_logged_series(runs) -> None:
    directory, _ = runs
    run = read_run(directory / "magan")
    margin = lines(draw([run], default_panels([run])))["magan:margin"]
    steps, values = zip(*logged(directory / "magan")["train"]["margin"], strict=True)
    assert run.margin is None and list(margin.get_xdata()) == list(steps) and list(margin.get_ydata()) == list(values)


def test_plot_overlays_runs_one_colour_each(runs, cli, tmp_path: Path) -> None:
    directory, _ = runs
    output = tmp_path / "seeds.png"
    code, out, err = cli("plot", directory / "seed0", directory / "seed1", "-o", output)
    assert code == 0, err
    assert f"wrote {output}: seed0, seed1" in out
    with Image.open(output) as image:
        assert image.size == (WIDTH * DPI, 3 * ROW_HEIGHT * DPI)
    both = [read_run(directory / name) for name in ("seed0", "seed1")]
    figure = draw(both, default_panels(both))
    drawn = lines(figure)
    for index, name in enumerate(("seed0", "seed1")):
        values = [value for _, value in logged(directory / name)["train"]["loss_d"]]
        assert list(drawn[f"{name}:loss_d"].get_ydata()) == values
        assert to_rgba(drawn[f"{name}:loss_d"].get_color()) == to_rgba(f"C{index}")
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["seed0", "seed1"]

    code, _, err = cli("plot", directory / "seed0", directory / "seed1", "--keys", "loss_d", "brightness", "-o", output)
    assert code == 0, err
    with Image.open(output) as image:
        assert image.size == (WIDTH * DPI, ROW_HEIGHT * DPI)  # two panels, one row


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("missing",), "missing: no such run directory"),
        (("empty",), "empty has no metrics.jsonl"),
        (("seed0", "--keys", "loss_x"), "--keys loss_x: no run logged 'loss_x'; logged keys: brightness"),
        (("seed0", "-o", "curves.txt"), "unknown figure format 'txt'"),
    ],
)
def test_plot_errors_are_one_line(runs, cli, tmp_path: Path, arguments: tuple[str, ...], message: str) -> None:
    directory, _ = runs
    (directory / "empty").mkdir(exist_ok=True)
    first, *rest = arguments
    code, _, err = cli("plot", directory / first, *rest, *(() if "-o" in rest else ("-o", tmp_path / "x.png")))
    assert code == 1 and message in one_line(err)

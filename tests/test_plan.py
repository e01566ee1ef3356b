"""``energan train --dry-run``: FLOPs against hand counts, the predicted peak memory against a real
CPU step, and the plan of every shipped config."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function

from energan.assemble import training_state
from energan.benchmarks.profiler_events import allocations
from energan.commands.train import config_from_args
from energan.config import ResolvedConfig, TrainConfig, read_toml, resolve
from energan.data import ImageData
from energan.data.store import store_bytes
from energan.distributed import World
from energan.model import build_model
from energan.plan import CARDS_GIB, count_flops, largest_batches, plan, state_tensors, usable_bytes
from energan.plugins import load_plugins
from energan.precision import Precision
from energan.step import TrainStep

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "examples" / "configs").glob("*.toml"))


@pytest.fixture(scope="module")
def plugins() -> Any:
    return load_plugins()


def resolved(plugins: Any, path: Path | None = None, **settings: Any) -> ResolvedConfig:
    config = TrainConfig.from_dict(read_toml(path) if path else {})
    return resolve(config.replace_settings(**settings) if settings else config, plugins.registries)


# ---- FLOPs: FlopCounterMode's count equals the hand count from the shapes ----


def test_linear_layers_count_2_b_in_out_forward_and_twice_that_backward() -> None:
    batch, widths = 8, (32, 48, 16)
    net = nn.Sequential(nn.Linear(widths[0], widths[1]), nn.ReLU(), nn.Linear(widths[1], widths[2]))
    x = torch.randn(batch, widths[0], requires_grad=True)
    forward = sum(2 * batch * n_in * n_out for n_in, n_out in itertools.pairwise(widths))
    assert count_flops(lambda: net(x)) == forward
    assert count_flops(lambda: net(x).sum().backward()) == 3 * forward  # backward: the input's and the weight's gradient


def test_dcgan_convolutions_count_2_b_cout_hout_wout_cin_k2() -> None:
    batch, c_in, c_out, side, k = 4, 8, 16, 16, 4
    conv = nn.Conv2d(c_in, c_out, k, stride=2, padding=1)  # the energy's encoder: 16×16 → 8×8
    x = torch.randn(batch, c_in, side, side)
    out = side // 2
    assert count_flops(lambda: conv(x)) == 2 * batch * c_out * out * out * c_in * k**2
    up = nn.ConvTranspose2d(c_out, c_in, k, stride=2, padding=1)  # the generator: 8×8 → 16×16
    z = torch.randn(batch, c_out, out, out)
    # a transposed convolution is the gradient of a convolution: the same count, from the small side
    assert count_flops(lambda: up(z)) == 2 * batch * c_in * out * out * c_out * k**2


def test_the_step_counted_is_the_real_one_d_steps_energy_updates_and_a_generator_update(plugins: Any) -> None:
    """An MLP generator and logit energy (matrix products only): each energy update scores the real
    and fake batch (2B) forward, with weight gradients for every layer and input gradients for all
    but the first; the generator update runs G and E forward on B, E's input gradients and G's
    weight gradients (E's weights get none: the backward is limited to G's)."""
    batch, d_steps = 16, 2
    args = ["train", "--energy", "logit", "--loss", "logistic", "--reg", "none", "--no-ema", "--augment", "none"]
    args += ["--batch-size", str(batch), "--d-steps", str(d_steps), "--set", "generator.batch_norm=false"]
    config = resolve(config_from_args(parse(plugins, args)), plugins.registries)
    with torch.device("meta"):
        model = build_model(config, plugins.registries, (1, 28, 28), torch.device("meta"))

    def layers(network: nn.Module) -> list[int]:
        return [2 * layer.in_features * layer.out_features for layer in network.modules() if isinstance(layer, nn.Linear)]

    g, e = layers(model.generator), layers(model.energy)
    energy_update = sum(g) * batch + (3 * sum(e) - e[0]) * 2 * batch
    generator_update = (3 * sum(g) - g[0] + 2 * sum(e)) * batch
    assert plan(config, plugins).cost.flops == d_steps * energy_update + generator_update


def parse(plugins: Any, argv: list[str]) -> Any:
    from energan.cli import build_parser

    args = build_parser(plugins).parse_args(argv)
    args.loaded_plugins = plugins
    return args


# ---- peak memory: the fake estimate against a real CPU step ----


def named(nodes: list[Any], name: str) -> Any:
    for node in nodes:
        if node.name == name:
            return node
        found = named(node.children, name)
        if found is not None:
            return found
    return None


def measured_peak(config: ResolvedConfig, plugins: Any, shape: tuple[int, int, int]) -> tuple[int, int]:
    """A real CPU step's (persistent bytes, peak bytes): the state built as assemble builds it on
    random images; after the warm-up, one step makes the gradients and optimizer states, then the
    next is measured. Persistent: the distinct storages of the weights, buffers, gradients and
    optimizer states before the measured step. Peak: those plus the most that the measured step
    allocated above them, from torch.profiler's allocation events (benchmarks/test_bench_pullaway.py's
    peak_extra_bytes). The profiler runs through both steps: it reports the free of a block only when
    it saw its allocation, and the measured step frees the gradients the step before made."""
    cpu = torch.device("cpu")
    model = build_model(config, plugins.registries, shape, cpu)
    config, state = training_state(config, plugins, model, shape, Precision(config.settings.amp, cpu), World())
    images = torch.rand(4 * config.settings.batch_size, *shape) * 2 - 1
    step = TrainStep(state, ImageData("random", images), config.settings)
    first = config.settings.warmup_steps
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step(first)
        persistent = sum({id(t.untyped_storage()): t.untyped_storage().nbytes() for t in state_tensors(state)}.values())
        with record_function("measured step"):
            step(first + 1)
    measured = named(prof.profiler.kineto_results.experimental_event_tree(), "measured step")
    current = peak = 0
    for event in sorted(allocations(measured.children), key=lambda event: event.start_time_ns):
        current += event.extra_fields.alloc_size
        peak = max(peak, current)
    return persistent, persistent + peak


@pytest.mark.parametrize(
    ("path", "settings", "shape"),
    [
        (None, {}, (1, 28, 28)),
        (None, {"amp": "bf16"}, (1, 28, 28)),
        (ROOT / "examples/configs/celeba64.toml", {"batch_size": 8}, (3, 64, 64)),
    ],
    ids=["default", "default-bf16", "celeba64-batch8"],
)
def test_predicted_peak_memory_is_within_a_quarter_of_a_real_cpu_step(
    plugins: Any, path: Path | None, settings: dict, shape: tuple
) -> None:
    config = resolved(plugins, path, device="cpu", **settings)
    predicted = plan(config, plugins).cost
    persistent, peak = measured_peak(config, plugins, shape)
    assert predicted.persistent_bytes == pytest.approx(persistent, rel=0.01)
    assert predicted.peak_bytes == pytest.approx(peak, rel=0.25), f"predicted {predicted.peak_bytes:,} B, measured {peak:,} B"


def test_the_largest_batch_is_placed_by_two_estimates_and_checked_by_more() -> None:
    gib = 2**30
    affine = {card: largest_batches(lambda batch, card=card: gib + batch * 2**20, 64)[card] for card in CARDS_GIB}
    assert affine == {card: 2 ** int(math.log2((usable_bytes(card) - gib) / 2**20)) for card in CARDS_GIB}
    # a peak that grows faster than the batch: the affine guess is too large, the check lowers it
    quadratic = largest_batches(lambda batch: batch**2 * 2**10, 64)
    assert quadratic == {card: 2 ** int(math.log2(math.sqrt(usable_bytes(card) / 2**10))) for card in CARDS_GIB}
    assert largest_batches(lambda batch: 100 * gib, 64) == dict.fromkeys(CARDS_GIB)


def test_the_largest_batch_of_a_24_gb_card_fits_it_and_twice_it_does_not(plugins: Any) -> None:
    config = resolved(plugins, None, batch_size=4096)
    batch = plan(config, plugins).largest_batch[24]
    assert plan(config.replace_settings(batch_size=batch), plugins).fits(24)
    assert not plan(config.replace_settings(batch_size=2 * batch), plugins).fits(24)


# ---- the command ----


def test_dry_run_prints_the_plan_and_creates_no_run_directory(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("train", "--dry-run")
    assert code == 0, err
    for label in ("parameters", "FLOPs per step", "peak memory per rank", "images/s to feed", "24 GB card", "80 GB card"):
        assert label in out
    assert "generator" in out and "energy" in out and "ema" in out
    assert list(tmp_path.iterdir()) == []


def test_dry_run_of_a_folder_counts_its_images_for_the_prepared_set(cli, tmp_path: Path) -> None:
    for index in range(5):
        Image.new("RGB", (40, 48), (index, 0, 0)).save(tmp_path / f"{index}.png")
    code, out, err = cli("train", "--data", "folder", "--data-dir", tmp_path, "--set", "data.size=32", "--dry-run", "json")
    assert code == 0, err
    planned = json.loads(out)
    assert planned["images"] == 5 and planned["store_bytes"] == store_bytes(5, 32) == 5 * 3 * 32 * 32
    assert planned["images_per_s"]["0.01s"] == 64 * 100


def test_dry_run_errors_name_the_bad_value_and_the_choices(cli, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli("train", "--dry-run", "xml")
    assert "--dry-run: invalid choice: 'xml' (choose from 'table', 'json')" in capsys.readouterr().err
    code, _, err = cli("train", "--data", "folder", "--data-dir", "/no/such/dir", "--dry-run")
    assert code == 1 and "/no/such/dir" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("config", [None, *CONFIGS], ids=["default", *(path.stem for path in CONFIGS)])
def test_dry_run_of_every_shipped_config(cli, config: Path | None) -> None:
    """No data directory: a folder's images take their shape from data.size."""
    code, out, err = cli("train", *(["--config", config] if config else []), "--dry-run")
    assert code == 0, err
    assert "FLOPs per step" in out and "largest power-of-two batch" in out
    if config is not None and 'name = "folder"' in config.read_text():
        assert "per 100,000 images (no --data-dir given)" in out

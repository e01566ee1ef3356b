"""One full EBGAN-PT step (energy step + generator step) of the default model: energan's
``TrainStep`` against a hand-written PyTorch loop of the same nets, losses and optimizers.

The hand-written loop is what a careful user writes without a framework: index the data,
margin loss with F.relu, the fused pull-away kernel, torch.optim.Adam, no hooks. Both sides
build identical networks from the same seed, and their steps are timed alternately (paired
rounds); `benchmarks.report` prints the overhead ratio of the medians. On a GPU the same
pairs run on CUDA, plus bf16 autocast against fp32; each timed CUDA step ends in a
synchronize, so a round is the step's whole time and not its launch.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from pytest_benchmark.fixture import BenchmarkFixture

from energan import load_plugins
from energan.assemble import assemble
from energan.config import TrainConfig, resolve
from energan.data import ImageData
from energan.kernels import pullaway
from energan.state import TrainingState
from energan.step import TrainStep

WARMUP_STEPS = 20
ROUNDS = 1000
WARMUP_ROUNDS = 5
CONV_GENERATOR = {"name": "dcgan", "width": 32}  # examples/configs/ebgan-pt-dcgan.toml
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA cases need a GPU")


def default_state(**settings: object) -> tuple[ImageData, TrainingState, TrainConfig]:
    """The `make train` model (autoencoder energy, margin loss, pull-away), seeded, on CPU unless
    `device` is given."""
    plugins = load_plugins()
    raw = {"device": "cpu", "warmup_steps": 0, "reg": {"pullaway": {}}, "metrics": {}, **settings}
    config = resolve(TrainConfig.from_dict(raw), plugins.registries)
    config, data, state = assemble(config, plugins)
    return data, state, config


def energan_step(**settings: object) -> Callable[[], None]:
    data, state, config = default_state(**settings)
    step = TrainStep(state, data, config.settings)
    counter = iter(range(10**9))
    return lambda: step(next(counter))


def hand_written_step(device: str = "cpu", **settings: object) -> Callable[[], None]:
    data, state, config = default_state(device=device, **settings)  # the same networks, initialised identically
    settings = config.settings
    generator, energy, images = state.model.generator, state.model.energy, data.train_images
    margin = config.loss.params["margin"]
    weight = config.regularizers["pullaway"]["weight"]
    betas = (settings.beta1, settings.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=settings.lr_g, betas=betas)
    opt_d = torch.optim.Adam(energy.parameters(), lr=settings.lr_d, betas=betas)
    batch = settings.batch_size
    device = next(generator.parameters()).device

    def step() -> None:
        real = images[torch.randint(len(images), (batch,))].to(device)
        with torch.no_grad():
            fake = generator(torch.randn(batch, generator.latent_dim, device=device))
        loss_d = energy(real).energy.mean() + F.relu(margin - energy(fake).energy).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        energy.requires_grad_(False)
        out = energy(generator(torch.randn(batch, generator.latent_dim, device=device)))
        loss_g = out.energy.mean() + weight * pullaway(out.code, impl="fused")
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        energy.requires_grad_(True)

    return step


def synchronized(step: Callable[[], None]) -> Callable[[], None]:
    """`step` followed by a CUDA synchronize: its time is the GPU's work, not the launch."""

    def run() -> None:
        step()
        torch.cuda.synchronize()

    return run


def paired(benchmark: BenchmarkFixture, timed: Callable[[], None], reference: Callable[[], None], kind: str) -> None:
    """Paired and interleaved: before each timed step, one step of the reference is timed.

    Both loops see the same machine state round by round, so drift and noise from other
    processes hit both alike; the report compares the two medians.
    """
    for _ in range(WARMUP_STEPS):
        timed()
        reference()
    reference_times: list[float] = []

    def time_reference_step() -> None:
        start = time.perf_counter()
        reference()
        reference_times.append(time.perf_counter() - start)

    benchmark.group = "trainer-step"
    benchmark.pedantic(timed, setup=time_reference_step, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    measured = reference_times[-ROUNDS:]
    benchmark.extra_info.update(kind=kind, reference_median=statistics.median(measured), reference_rounds=len(measured))


def test_trainer_step(benchmark: BenchmarkFixture) -> None:
    """energan's step against the hand-written loop of the same model."""
    paired(benchmark, energan_step(), hand_written_step(), "trainer-step")


def test_conv_trainer_step(benchmark: BenchmarkFixture) -> None:
    """The conv path (ebgan-pt-dcgan.toml's DCGAN generator) against the hand-written loop."""
    paired(benchmark, energan_step(generator=CONV_GENERATOR), hand_written_step(generator=CONV_GENERATOR), "trainer-step-conv")


@pytest.mark.slow
def test_compiled_trainer_step(benchmark: BenchmarkFixture) -> None:
    """``compile = true`` against the eager step (the first steps, which compile, are warm-up)."""
    paired(benchmark, energan_step(compile=True), energan_step(), "trainer-step-compiled")


@cuda
def test_cuda_trainer_step(benchmark: BenchmarkFixture) -> None:
    """On the GPU: energan's step against the hand-written loop."""
    paired(benchmark, synchronized(energan_step(device="cuda")), synchronized(hand_written_step("cuda")), "trainer-step-cuda")


@cuda
def test_cuda_bf16_trainer_step(benchmark: BenchmarkFixture) -> None:
    """``amp = "bf16"`` against the fp32 step on the GPU."""
    fp32 = energan_step(device="cuda")
    paired(benchmark, synchronized(energan_step(device="cuda", amp="bf16")), synchronized(fp32), "trainer-step-cuda-bf16")


@cuda
@pytest.mark.slow
def test_cuda_compiled_trainer_step(benchmark: BenchmarkFixture) -> None:
    """``compile = true`` against the eager step on the GPU."""
    eager = energan_step(device="cuda")
    paired(benchmark, synchronized(energan_step(device="cuda", compile=True)), synchronized(eager), "trainer-step-cuda-compiled")

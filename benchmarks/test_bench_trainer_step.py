"""One full EBGAN-PT step (energy step + generator step) of a shipped config: energan's
``TrainStep`` against a hand-written PyTorch loop of the same nets, losses and optimizers, and
against the step's floor, the time of its matrix products alone.

The hand-written loop is what a careful user writes without a framework: index the data, shift
real and generated digits alike (the config's translation), margin loss with F.relu, the fused
pull-away kernel, torch.optim.Adam, an EMA of the generator by one foreach lerp, no hooks. Both
sides build identical networks from the same seed, and their steps are timed alternately (paired
rounds); `benchmarks.report` prints the overhead ratio of the medians. The floor replays the
matrix products and convolutions one energan step runs (benchmarks/matmul_floor.py), on the
same shapes and threads. On a GPU the same pairs run on CUDA, plus bf16 autocast against fp32;
each timed CUDA step ends in a synchronize, so a round is the step's whole time and not its
launch.
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
from energan.augment import translate, translation_reach
from energan.config import ResolvedConfig, TrainConfig, resolve
from energan.data import ImageData
from energan.kernels import pullaway
from energan.state import TrainingState
from energan.step import TrainStep
from energan.sweep.families import load_family

from .matmul_floor import record_matrix_products, replay

WARMUP_STEPS = 20
ROUNDS = 1000
WARMUP_ROUNDS = 5
DEFAULT = "ebgan-pt"  # make train's model
CONV = "ebgan-pt-dcgan"  # the conv path: the DCGAN generator of the high-resolution configs
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA cases need a GPU")


def shipped_state(config: str = DEFAULT, **settings: object) -> tuple[ImageData, TrainingState, ResolvedConfig]:
    """The shipped config ``config``'s model, data and optimizers, seeded, on the CPU unless
    ``device`` is given, with no warm-up (every step is a full step)."""
    plugins = load_plugins()
    raw = {**load_family(config).config, "device": "cpu", "warmup_steps": 0, **settings}
    resolved = resolve(TrainConfig.from_dict(raw), plugins.registries)
    resolved, data, state = assemble(resolved, plugins)
    return data, state, resolved


def energan_step(config: str = DEFAULT, **settings: object) -> Callable[[], None]:
    data, state, resolved = shipped_state(config, **settings)
    step = TrainStep(state, data, resolved.settings)
    counter = iter(range(10**9))
    return lambda: step(next(counter))


def per_batch_forward_step(config: str = DEFAULT) -> Callable[[], None]:
    """energan's step before issue 28's levers: one energy forward per batch, timm's own EMA update."""
    data, state, resolved = shipped_state(config)
    step = TrainStep(state, data, resolved.settings)
    model = state.model
    step.one_forward = False
    step.update_average = lambda index: model.ema.update(model.generator, step=index)
    counter = iter(range(10**9))
    return lambda: step(next(counter))


def hand_written_step(config: str = DEFAULT, device: str = "cpu", **settings: object) -> Callable[[], None]:
    data, state, resolved = shipped_state(config, device=device, **settings)  # the same networks, initialised identically
    settings = resolved.settings
    generator, energy, images = state.model.generator, state.model.energy, data.train_images
    average = state.model.ema.module
    margin = resolved.loss.params.margin
    weight = resolved.reg["pullaway"].params.weight
    betas = (settings.beta1, settings.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=settings.lr_g, betas=betas)
    opt_d = torch.optim.Adam(energy.parameters(), lr=settings.lr_d, betas=betas)
    batch, reach = settings.batch_size, translation_reach(data.shape[1], settings.augment_shift)
    device = next(generator.parameters()).device
    averaged = [value for value in average.state_dict().values() if value.is_floating_point()]
    current = [value for value in generator.state_dict().values() if value.is_floating_point()]
    counts = [
        (a, c) for a, c in zip(average.state_dict().values(), generator.state_dict().values(), strict=True) if not a.is_floating_point()
    ]

    def shift(x: torch.Tensor) -> torch.Tensor:
        return translate(x, torch.randint(-reach, reach + 1, (len(x), 2), device=device))

    def step() -> None:
        real = images[torch.randint(len(images), (batch,))].to(device)
        with torch.no_grad():
            fake = generator(torch.randn(batch, generator.latent_dim, device=device))
        loss_d = energy(shift(real)).energy.mean() + F.relu(margin - energy(shift(fake)).energy).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        energy.requires_grad_(False)
        out = energy(shift(generator(torch.randn(batch, generator.latent_dim, device=device))))
        loss_g = out.energy.mean() + weight * pullaway(out.code, impl="fused")
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        energy.requires_grad_(True)
        with torch.no_grad():
            torch._foreach_lerp_(averaged, current, 1.0 - settings.ema_decay)
            for average_count, count in counts:
                average_count.copy_(count)

    return step


def matrix_products_of(config: str = DEFAULT) -> Callable[[], None]:
    """The matrix products of one energan step of ``config``, replayed alone."""
    step = energan_step(config)
    for _ in range(WARMUP_STEPS):
        step()
    return replay(record_matrix_products(step))


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
    """energan's step of make train's model against the hand-written loop of the same model."""
    paired(benchmark, energan_step(), hand_written_step(), "trainer-step")


def test_conv_trainer_step(benchmark: BenchmarkFixture) -> None:
    """The conv path (ebgan-pt-dcgan.toml's DCGAN generator) against the hand-written loop."""
    paired(benchmark, energan_step(CONV), hand_written_step(CONV), "trainer-step-conv")


def test_trainer_step_levers(benchmark: BenchmarkFixture) -> None:
    """make train's step against the same step without the levers kept in issue 28 (one energy
    forward for both batches, the EMA on tensor lists paired once)."""
    paired(benchmark, energan_step(), per_batch_forward_step(), "trainer-step-levers")


def test_step_floor(benchmark: BenchmarkFixture) -> None:
    """make train's step against its matrix products alone: the step-to-floor ratio."""
    paired(benchmark, energan_step(), matrix_products_of(), "step-floor")


def test_conv_step_floor(benchmark: BenchmarkFixture) -> None:
    """The conv path's step against its matrix products and convolutions alone."""
    paired(benchmark, energan_step(CONV), matrix_products_of(CONV), "step-floor-conv")


@pytest.mark.slow
def test_compiled_trainer_step(benchmark: BenchmarkFixture) -> None:
    """``compile = true`` against the eager step (the first steps, which compile, are warm-up)."""
    paired(benchmark, energan_step(compile=True), energan_step(), "trainer-step-compiled")


@cuda
def test_cuda_trainer_step(benchmark: BenchmarkFixture) -> None:
    """On the GPU: energan's step against the hand-written loop."""
    paired(benchmark, synchronized(energan_step(device="cuda")), synchronized(hand_written_step(device="cuda")), "trainer-step-cuda")


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

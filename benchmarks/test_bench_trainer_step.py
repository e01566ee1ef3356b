"""One full EBGAN-PT step (energy step + generator step) of the default model: energan's
``TrainStep`` against a hand-written PyTorch loop of the same nets, losses and optimizers.

The hand-written loop is what a careful user writes without a framework: index the data,
margin loss with F.relu, the fused pull-away kernel, torch.optim.Adam, no hooks. Both sides
build identical networks from the same seed, and their steps are timed alternately (paired
rounds); `benchmarks.report` prints the overhead ratio of the medians.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

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


def default_state() -> tuple[ImageData, TrainingState, TrainConfig]:
    """The `make train` model (autoencoder energy, margin loss, pull-away), seeded, on CPU."""
    plugins = load_plugins()
    config = resolve(TrainConfig.from_dict({"device": "cpu", "reg": {"pullaway": {}}, "metrics": {}}), plugins.registries)
    return *assemble(config, plugins), config


def energan_step() -> Callable[[], None]:
    data, state, config = default_state()
    step = TrainStep(state, data, config.settings)
    counter = iter(range(10**9))
    return lambda: step(next(counter))


def hand_written_step() -> Callable[[], None]:
    data, state, config = default_state()  # the same networks, initialised identically
    settings = config.settings
    generator, energy, images = state.model.generator, state.model.energy, data.train_images
    margin = config.loss.params["margin"]
    weight = config.regularizers["pullaway"]["weight"]
    betas = (settings.beta1, settings.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=settings.lr_g, betas=betas)
    opt_d = torch.optim.Adam(energy.parameters(), lr=settings.lr_d, betas=betas)
    batch = settings.batch_size

    def step() -> None:
        real = images[torch.randint(len(images), (batch,))]
        with torch.no_grad():
            fake = generator(torch.randn(batch, generator.latent_dim))
        loss_d = energy(real).energy.mean() + F.relu(margin - energy(fake).energy).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        energy.requires_grad_(False)
        out = energy(generator(torch.randn(batch, generator.latent_dim)))
        loss_g = out.energy.mean() + weight * pullaway(out.code, impl="fused")
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        energy.requires_grad_(True)

    return step


def test_trainer_step(benchmark: BenchmarkFixture) -> None:
    """Paired and interleaved: before each timed energan step, one hand-written step is timed.

    Both loops see the same machine state round by round, so drift and noise from other
    processes hit both alike; the report compares the two medians.
    """
    energan, hand_written = energan_step(), hand_written_step()
    for _ in range(WARMUP_STEPS):
        energan()
        hand_written()
    hand_written_times: list[float] = []

    def time_hand_written_step() -> None:
        start = time.perf_counter()
        hand_written()
        hand_written_times.append(time.perf_counter() - start)

    benchmark.group = "trainer-step"
    benchmark.pedantic(energan, setup=time_hand_written_step, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    measured = hand_written_times[-ROUNDS:]
    benchmark.extra_info.update(kind="trainer-step", hand_written_median=statistics.median(measured), hand_written_rounds=len(measured))

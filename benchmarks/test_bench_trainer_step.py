"""One full EBGAN-PT step (energy step + generator step) of the default model: energan's
``TrainStep`` against a hand-written PyTorch loop of the same nets, losses and optimizers.

The hand-written loop is what a careful user writes without a framework: index the data,
margin loss with F.relu, the fused pull-away kernel, torch.optim.Adam, no hooks. Both sides
build identical networks from the same seed; `benchmarks.report` prints the overhead ratio.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from pytest_benchmark.fixture import BenchmarkFixture

from energan import load_plugins
from energan.assemble import Parts, assemble
from energan.config import TrainConfig, resolve
from energan.kernels import pullaway
from energan.step import TrainStep

WARMUP_STEPS = 20


def default_parts() -> tuple[Parts, TrainConfig]:
    """The `make train` model (autoencoder energy, margin loss, pull-away), seeded, on CPU."""
    plugins = load_plugins()
    config = resolve(TrainConfig.from_dict({"device": "cpu", "reg": {"pullaway": {}}, "metrics": {}}), plugins.registries)
    return assemble(config, plugins), config


def energan_step() -> Callable[[], None]:
    parts, config = default_parts()
    step = TrainStep(parts, config.settings)
    counter = iter(range(10**9))
    return lambda: step(next(counter))


def hand_written_step() -> Callable[[], None]:
    parts, config = default_parts()  # the same networks, initialised identically
    settings = config.settings
    generator, energy, images = parts.generator, parts.energy, parts.data.train_images
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


@pytest.mark.parametrize("loop", ["energan", "hand-written"])
def test_trainer_step(benchmark: BenchmarkFixture, loop: str) -> None:
    step = energan_step() if loop == "energan" else hand_written_step()
    for _ in range(WARMUP_STEPS):
        step()
    benchmark.group = "trainer-step"
    benchmark.extra_info.update(kind="trainer-step", loop=loop)
    benchmark.pedantic(step, rounds=200, iterations=5, warmup_rounds=2)

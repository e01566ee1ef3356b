"""The fast step against the reference step, weights compared after a few full steps of the
shipped default (make train's model: batch-norm generator, translation, EMA, pull-away) on the
same networks, batches and latents. The fast step runs fused Adam, scores the real and generated
batches in one forward of the energy and updates the EMA on tensor lists paired once; the
reference runs torch's per-parameter Adam, one energy forward per batch and timm's own EMA update."""

from __future__ import annotations

import pytest
import torch

from energan import load_plugins
from energan.assemble import assemble, fused_kernel
from energan.components import scores_alone
from energan.config import TrainConfig, resolve
from energan.energies import AutoEncoderEnergy, TimmEncoder
from energan.state import TrainingState
from energan.step import AverageUpdate, TrainStep
from energan.sweep.families import load_family

STEPS = 6


def default_state(reference: bool, family: str = "ebgan-pt") -> tuple[TrainStep, TrainingState]:
    """``family``'s shipped step (no warm-up: every step a full one) as it runs, or the reference step."""
    plugins = load_plugins()
    raw = {**load_family(family).config, "device": "cpu", "warmup_steps": 0, "steps": STEPS}
    config, data, state = assemble(resolve(TrainConfig.from_dict(raw), plugins.registries), plugins)
    if reference:
        for name in ("optimizer_d", "optimizer_g"):
            group = getattr(state, name).param_groups[0]
            setattr(state, name, torch.optim.Adam(group["params"], lr=group["lr"], betas=group["betas"], foreach=False))
    step = TrainStep(state, data, config.settings)
    if reference:
        model = state.model
        step.one_forward = False
        step.update_average = lambda index: model.ema.update(model.generator, step=index)
    return step, state


def take_over(state: TrainingState, source: TrainingState) -> None:
    """``state``'s weights, EMA and Adam moments set to ``source``'s (its RNG streams kept: both have drawn alike)."""
    state.model.load_state_dict(source.model.state_dict())
    for name in ("optimizer_d", "optimizer_g"):
        mine, theirs = getattr(state, name), getattr(source, name)
        for parameter, source_parameter in zip(mine.param_groups[0]["params"], theirs.param_groups[0]["params"], strict=True):
            mine.state[parameter] = {key: value.clone() for key, value in theirs.state[source_parameter].items()}


def test_the_default_model_runs_the_fast_step_on_the_cpu() -> None:
    step, state = default_state(reference=False)
    assert state.optimizer_d.param_groups[0]["fused"] and state.optimizer_g.param_groups[0]["fused"]
    assert step.one_forward and isinstance(step.update_average, AverageUpdate)


LR = 1e-3  # the shipped families' learning rate
NEAR_EPSILON_SHARE = 1e-4  # elements whose gradient is near Adam's ε: a rounding difference moves them further


def assert_same_update(got: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """Equal to 1 % of a step of lr (1e-5), except a share of at most 1e-4 of the elements (those
    whose gradient is near Adam's ε), which may differ by up to one step of lr, never more."""
    if not got.is_floating_point():
        torch.testing.assert_close(got, expected, msg=what)
        return
    difference = (got - expected).abs()
    outside = difference > 1e-5 + 1e-5 * expected.abs()
    assert outside.float().mean() <= NEAR_EPSILON_SHARE, f"{what}: {int(outside.sum())} of {got.numel()} elements differ by over 1e-5"
    assert difference.max() <= LR, f"{what}: an element differs by {difference.max():.3g}, more than a step of lr {LR:g}"


@pytest.mark.parametrize("family", ["ebgan-pt", "gan", "began"])  # MAGAN needs a warm-up: every step here is a full one
def test_each_fast_step_equals_the_reference_step(family: str) -> None:
    """Step by step from the same weights, moments and batches: the same weights after each step,
    to 1 % of a step of lr = 1e-3 (the energy's update is bit-for-bit up to rounding, 1e-9; the
    generator's gradient passes through that energy, and an element whose gradient is near Adam's
    ε = 1e-8 turns a rounding difference into a few 1e-6, with torch 2.14 on 1 or 2 elements of
    700 000 into 2e-5: ``assert_same_update``).

    (Over several steps the two drift apart by Adam's own sensitivity, not the kernel's: an element
    whose gradient is near 0 takes a step of ±lr on a rounding difference, so runs are compared
    step by step; a rerun of the fast step is bit-identical.)
    """
    fast_step, fast = default_state(reference=False, family=family)
    reference_step, reference = default_state(reference=True, family=family)
    for index in range(STEPS):
        fast_step(index)
        reference_step(index)
        for name in ("generator", "energy"):
            got, expected = getattr(fast.model, name).state_dict(), getattr(reference.model, name).state_dict()
            for key in got:
                assert_same_update(got[key], expected[key], f"step {index}: {name}.{key}")
        for got, expected in zip(fast.model.ema.module.parameters(), reference.model.ema.module.parameters(), strict=True):
            assert_same_update(got, expected, f"step {index}: ema")
        take_over(fast, reference)
    assert fast.optimizer_g.state[fast.optimizer_g.param_groups[0]["params"][0]]["step"].item() == STEPS


def test_the_fast_step_is_deterministic() -> None:
    (step_a, a), (step_b, b) = default_state(reference=False), default_state(reference=False)
    for index in range(STEPS):
        step_a(index)
        step_b(index)
    assert all(torch.equal(p, q) for p, q in zip(a.model.generator.parameters(), b.model.generator.parameters(), strict=True))


def test_fused_kernels_only_where_torch_has_them() -> None:
    assert fused_kernel(torch.optim.Adam, "cpu") and fused_kernel(torch.optim.SGD, "cpu")
    assert not fused_kernel(torch.optim.RMSprop, "cpu")  # no fused RMSprop in torch

    class NoFusedOption(torch.optim.SGD):
        def __init__(self, params: object, lr: float = 0.1) -> None:
            super().__init__(params, lr=lr)

    assert not fused_kernel(NoFusedOption, "cpu")


def test_the_average_update_equals_timms() -> None:
    """AverageUpdate moves the EMA exactly as timm's ModelEmaV3.update does, its decay schedule
    (a copy at steps 0 and 1) and batch-norm's counters included."""
    (_, state), (_, twin) = default_state(reference=False), default_state(reference=False)
    generator = state.model.generator
    ours, timms = AverageUpdate(state.model.ema, generator), twin.model.ema
    with torch.no_grad():
        for index in range(4):
            for parameter in generator.parameters():
                parameter.add_(torch.randn_like(parameter))
            generator(torch.randn(8, generator.latent_dim))  # moves the running statistics and counts
            ours(index)
            timms.update(generator, step=index)
            for (key, got), expected in zip(state.model.ema.module.state_dict().items(), timms.module.state_dict().values(), strict=True):
                assert torch.equal(got, expected), f"step {index}: {key}"


def autoencoder(**params: object) -> torch.nn.Module:
    """The default auto-encoder energy with ``params`` changed."""
    plugins = load_plugins()
    raw = {**load_family("ebgan-pt").config, "device": "cpu", "energy": {**load_family("ebgan-pt").config["energy"], **params}}
    _, _, state = assemble(resolve(TrainConfig.from_dict(raw), plugins.registries), plugins)
    return state.model.energy


def test_one_forward_only_where_each_sample_is_scored_alone() -> None:
    """The default auto-encoder scores real and generated batches in one forward, with outputs
    equal to two forwards; batch-norm (batch statistics) and spectral norm (one power iteration
    per forward) couple the batches, and an energy that does not declare ``per_sample`` is
    never merged."""
    energy = autoencoder()
    real, fake = torch.randn(5, 1, 28, 28), torch.randn(7, 1, 28, 28)
    assert scores_alone(energy)
    joint_real, joint_fake = energy(torch.cat((real, fake))).split(len(real))
    for joint, alone in ((joint_real, energy(real)), (joint_fake, energy(fake))):
        for name in ("energy", "code", "reconstruction"):
            torch.testing.assert_close(getattr(joint, name), getattr(alone, name))
    assert not scores_alone(autoencoder(batch_norm=True))
    assert not scores_alone(autoencoder(spectral_norm=True))
    assert not scores_alone(torch.nn.Linear(3, 1))  # a plugin's plain module: its batch coupling unknown
    timm_encoded = AutoEncoderEnergy(TimmEncoder(torch.nn.Identity(), 4, 2), torch.nn.Linear(2, 4), "mse")
    assert AutoEncoderEnergy.per_sample and not scores_alone(timm_encoded)  # a part that declares it couples

"""Every registered component (built-in or third-party) builds with its defaults, runs and trains.

The cases are read from the plugin registries at collection time, so a plugin that adds an
energy, a generator, a loss or a regularizer is covered without editing this file.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from energan.components import EnergyOutput, PlainEnergy, RegularizerInputs, as_energy
from energan.plugins import load_plugins

REGISTRIES = load_plugins().registries
SMALL = (1, 8, 8)
BATCH = 4

# (name, extra params, shape): every component with defaults on SMALL, plus the conv bodies larger
ENERGY_CASES = [(name, {}, SMALL) for name in REGISTRIES.energies.names()]
if "autoencoder" in REGISTRIES.energies:
    ENERGY_CASES += [("autoencoder", {"body": "conv"}, shape) for shape in (SMALL, (1, 16, 16), (3, 32, 32))]
GENERATOR_CASES = [(name, {}, SMALL) for name in REGISTRIES.generators.names()]
if "dcgan" in REGISTRIES.generators:
    GENERATOR_CASES += [("dcgan", {}, shape) for shape in ((1, 16, 16), (3, 32, 32))]
LOSSES = REGISTRIES.losses.names()
REGULARIZERS = REGISTRIES.regularizers.names()


def case_id(case: tuple[str, dict, tuple[int, int, int]]) -> str:
    name, params, shape = case
    extra = "".join(f"-{k}={v}" for k, v in params.items())
    return f"{name}{extra}-{'x'.join(map(str, shape))}"


def images(shape: tuple[int, int, int], seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(BATCH, *shape, generator=g) * 2 - 1


def latent(generator: nn.Module, seed: int = 1) -> torch.Tensor:
    return torch.randn(BATCH, generator.latent_dim, generator=torch.Generator().manual_seed(seed))


def build_energy(name: str, params: dict, shape: tuple[int, int, int]) -> nn.Module:
    return as_energy(REGISTRIES.energies.get(name).create(params, shape=shape))


def build_generator(name: str, params: dict, shape: tuple[int, int, int]) -> nn.Module:
    return REGISTRIES.generators.get(name).create(params, shape=shape)


def all_regularizers() -> dict:
    return {name: REGISTRIES.regularizers.get(name).create({}) for name in REGULARIZERS}


def assert_finite_grads(module: nn.Module, what: str) -> None:
    params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    assert params, f"{what} has no trainable parameters"
    for name, p in params:
        assert p.grad is not None, f"{what}: parameter {name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{what}: parameter {name} has a non-finite gradient"


def check_output(out: EnergyOutput, x: torch.Tensor) -> None:
    assert isinstance(out, EnergyOutput)
    assert out.energy.shape == (x.shape[0],)
    assert torch.isfinite(out.energy).all()
    if out.code is not None:
        assert out.code.shape[0] == x.shape[0]
    if out.reconstruction is not None:
        assert out.reconstruction.shape == x.shape


def discriminator_total(energy, loss, regs, real, fake) -> torch.Tensor:
    """As in the energy step: loss on both batches plus the weighted discriminator-side regularizers."""
    out_real, out_fake = energy(real), energy(fake)
    check_output(out_real, real)
    check_output(out_fake, fake)
    total = loss.discriminator(out_real.energy, out_fake.energy)
    inputs = RegularizerInputs(energy, real, fake, out_real, out_fake)
    for reg in regs.values():
        if reg.side == "discriminator":
            total = total + reg.weight * reg(inputs)
    return total


def generator_total(energy, loss, regs, fake) -> torch.Tensor:
    """As in the generator step: no real batch, the generator-side regularizers."""
    out_fake = energy(fake)
    check_output(out_fake, fake)
    total = loss.generator(out_fake.energy)
    inputs = RegularizerInputs(energy, None, fake, None, out_fake)
    for reg in regs.values():
        if reg.side == "generator":
            total = total + reg.weight * reg(inputs)
    return total


def regularizers_for(energy: nn.Module, x: torch.Tensor) -> dict:
    """The registered regularizers this energy can feed (those needing a code skip code-less energies)."""
    with torch.no_grad():
        has_code = energy(x).code is not None
    regs = all_regularizers()
    return regs if has_code else {}


@pytest.mark.parametrize("loss_name", LOSSES)
@pytest.mark.parametrize("case", ENERGY_CASES, ids=case_id)
def test_energy_trains_under_every_loss(case, loss_name: str) -> None:
    name, params, shape = case
    torch.manual_seed(0)
    energy = build_energy(name, params, shape)
    generator = build_generator("mlp", {}, shape) if "mlp" in REGISTRIES.generators else None
    loss = REGISTRIES.losses.get(loss_name).create({})
    real = images(shape)
    fake = generator(latent(generator)).detach() if generator is not None else images(shape, seed=5)
    regs = regularizers_for(energy, real)

    total_d = discriminator_total(energy, loss, regs, real, fake)
    assert total_d.ndim == 0 and math.isfinite(total_d.item())
    total_d.backward()
    assert_finite_grads(energy, f"energy {name}")

    if generator is not None:  # the energy's gradient flows back into a generator
        energy.requires_grad_(False)
        total_g = generator_total(energy, loss, regs, generator(latent(generator)))
        assert math.isfinite(total_g.item())
        total_g.backward()
        assert_finite_grads(generator, "generator mlp")


@pytest.mark.parametrize("case", GENERATOR_CASES, ids=case_id)
def test_generator_builds_and_trains(case) -> None:
    name, params, shape = case
    torch.manual_seed(0)
    generator = build_generator(name, params, shape)
    assert isinstance(generator.latent_dim, int) and generator.latent_dim > 0
    fake = generator(latent(generator))
    assert fake.shape == (BATCH, *shape)
    assert torch.isfinite(fake).all()
    energy = build_energy("autoencoder", {}, shape)
    energy.requires_grad_(False)
    regs = regularizers_for(energy, fake.detach())
    for loss_name in LOSSES:
        generator.zero_grad(set_to_none=True)
        total = generator_total(energy, REGISTRIES.losses.get(loss_name).create({}), regs, generator(latent(generator)))
        assert math.isfinite(total.item()), loss_name
        total.backward()
        assert_finite_grads(generator, f"generator {name} under {loss_name}")


@pytest.mark.parametrize("name", LOSSES)
def test_loss_defaults_finite_values_and_grads(name: str) -> None:
    loss = REGISTRIES.losses.get(name).create({})
    g = torch.Generator().manual_seed(0)
    s_real = (torch.rand(BATCH, generator=g) * 3).requires_grad_()
    s_fake = (torch.rand(BATCH + 2, generator=g) * 3).requires_grad_()
    d, gen = loss.discriminator(s_real, s_fake), loss.generator(s_fake)
    assert d.ndim == 0 and gen.ndim == 0
    assert math.isfinite(d.item()) and math.isfinite(gen.item())
    (d + gen).backward()
    for t in (s_real, s_fake):
        assert t.grad is not None and torch.isfinite(t.grad).all()
    assert s_real.grad.abs().sum() > 0  # the discriminator loss really depends on the real energies


@pytest.mark.parametrize("name", REGULARIZERS)
def test_regularizer_defaults_on_its_side(name: str) -> None:
    reg = REGISTRIES.regularizers.get(name).create({})
    assert reg.side in ("discriminator", "generator")
    assert isinstance(reg.weight, (int, float)) and math.isfinite(reg.weight)
    torch.manual_seed(0)
    energy = build_energy("autoencoder", {}, SMALL)
    generator = build_generator("mlp", {}, SMALL)
    if reg.side == "discriminator":
        real = images(SMALL)
        fake = generator(latent(generator)).detach()
        out_real, out_fake = energy(real), energy(fake)
        value = reg(RegularizerInputs(energy, real, fake, out_real, out_fake))
        trained = energy
    else:
        energy.requires_grad_(False)
        fake = generator(latent(generator))
        value = reg(RegularizerInputs(energy, None, fake, None, energy(fake)))
        trained = generator
    assert value.ndim == 0 and math.isfinite(value.item())
    value.backward()
    grads = [p.grad for p in trained.parameters() if p.grad is not None]
    assert grads, f"regularizer {name} gives no gradient to the {reg.side}"
    assert all(torch.isfinite(g).all() for g in grads)


# ---------------------------------------------------------------- as_energy


class PlainNorm(nn.Module):
    """A plain energy: s(x) = mean(x²) per sample, returned as a [B] tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x.flatten(1).square().mean(dim=1)


class WrongShape(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).sum(dim=1, keepdim=True)  # [B, 1], not [B]


def test_as_energy_wraps_a_plain_tensor_energy() -> None:
    body = PlainNorm()
    energy = as_energy(body)
    assert isinstance(energy, PlainEnergy) and energy.body is body
    x = torch.ones(3, 1, 2, 2)
    x[1] *= 2
    out = energy(x)
    assert isinstance(out, EnergyOutput)
    assert out.code is None and out.reconstruction is None
    # s = 2·mean(x²): 2·1 = 2, 2·4 = 8, 2·1 = 2
    assert out.energy.tolist() == pytest.approx([2.0, 8.0, 2.0])
    out.energy.sum().backward()
    assert body.scale.grad is not None  # the wrapper keeps the body's parameters trainable
    assert list(energy.parameters()) == [body.scale]


def test_as_energy_leaves_an_energy_alone() -> None:
    energy = REGISTRIES.energies.get("autoencoder").create({}, shape=SMALL)
    assert as_energy(energy) is energy


def test_as_energy_rejects_a_wrong_shape_naming_it() -> None:
    energy = as_energy(WrongShape())
    with pytest.raises(ValueError, match=r"\(5, 1\)") as info:
        energy(torch.zeros(5, 1, 2, 2))
    assert "[5]" in str(info.value) and "WrongShape" in str(info.value)


def test_plain_energy_feeds_losses_but_not_code_regularizers() -> None:
    energy = as_energy(PlainNorm())
    x = torch.rand(4, 1, 2, 2)
    out = energy(x)
    loss = REGISTRIES.losses.get("margin").create({})
    assert math.isfinite(loss.discriminator(out.energy, out.energy).item())
    if "pullaway" in REGISTRIES.regularizers:
        reg = REGISTRIES.regularizers.get("pullaway").create({})
        with pytest.raises(ValueError, match="code"):
            reg(RegularizerInputs(energy, None, x, None, out))


def test_reconstruction_distances_hand_values() -> None:
    """l2 is the paper's per-sample norm ‖Dec(Enc(x)) − x‖; mse and l1 are per-pixel means."""
    from energan.energies import reconstruction_error

    x = torch.zeros(2, 1, 1, 2)
    reconstruction = torch.tensor([[[[3.0, 4.0]]], [[[0.0, -1.0]]]])
    assert reconstruction_error(reconstruction, x, "l2").tolist() == [5.0, 1.0]
    assert reconstruction_error(reconstruction, x, "mse").tolist() == [12.5, 0.5]
    assert reconstruction_error(reconstruction, x, "l1").tolist() == [3.5, 0.5]


def test_l2_autoencoder_energy_is_the_norm_of_the_residual() -> None:
    energy = REGISTRIES.energies.get("autoencoder").create({"distance": "l2", "size": 4}, shape=SMALL).double()
    x = images(SMALL).double()
    out = energy(x)
    expected = torch.linalg.vector_norm((out.reconstruction - x).flatten(1), dim=1)
    assert torch.allclose(out.energy, expected)
    torch.autograd.gradcheck(lambda t: energy(t).energy, (x[:2].clone().requires_grad_(),))

"""R1, the WGAN-GP penalty and spectral normalisation against hand-computed values, and gradcheck."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange
from torch import nn
from torch.nn.utils import parametrize

from energan.components import RegularizerInputs, as_energy
from energan.plugins import load_plugins
from energan.regularizers import R1, GradientPenalty

REGISTRIES = load_plugins().registries
W = torch.tensor([1.0, 2.0, 2.0, 4.0], dtype=torch.float64)  # ‖w‖ = √(1 + 4 + 4 + 16) = 5


class Linear(nn.Module):
    """s(x) = wᵀ vec(x) + 3: ∇ₓ s = w everywhere."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(x, "b ... -> b (...)") @ self.w + 3.0


class HalfSquare(nn.Module):
    """s(x) = ½‖x‖²: ∇ₓ s = x."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * rearrange(x, "b ... -> b (...)").square().sum(dim=1)


class TanhEnergy(nn.Module):
    """s(x) = tanh(vec(x) W) v, with W and v given (so gradcheck can vary them)."""

    def __init__(self, weights: torch.Tensor, head: torch.Tensor) -> None:
        super().__init__()
        self.weights, self.head = weights, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(rearrange(x, "b ... -> b (...)") @ self.weights) @ self.head


def batches(seed: int = 0, n: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 2, 2, generator=g, dtype=torch.float64), torch.randn(n, 1, 2, 2, generator=g, dtype=torch.float64)


def inputs_for(energy: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> RegularizerInputs:
    energy = as_energy(energy)
    return RegularizerInputs(energy, real, fake, energy(real), energy(fake))


# ---------------------------------------------------------------- R1


def test_r1_of_a_linear_energy_is_half_the_squared_weight_norm() -> None:
    energy = Linear(W)
    real, fake = batches()
    r1 = R1(weight=10.0)
    value = r1(inputs_for(energy, real, fake))
    # ½·‖w‖² = ½·25 = 12.5 for every sample; weighted: (γ/2)·‖w‖² = 5·25 = 125
    assert value.item() == pytest.approx(12.5)
    assert (r1.weight * value).item() == pytest.approx(125.0)
    # d/dw ½‖w‖² = w: the energy's weights get the penalty's gradient
    value.backward()
    assert torch.allclose(energy.w.grad, W)
    assert r1.side == "discriminator"


def test_r1_of_a_quadratic_energy_is_half_the_mean_squared_norm_of_the_data() -> None:
    real, fake = batches()
    # ∇ₓ ½‖x‖² = x: R1 = ½·mean_i ‖x_i‖²
    expected = 0.5 * rearrange(real, "b ... -> b (...)").square().sum(dim=1).mean()
    assert R1(1.0)(inputs_for(HalfSquare(), real, fake)).item() == pytest.approx(expected.item())


def test_r1_gradcheck_float64() -> None:
    real, fake = batches(1)
    g = torch.Generator().manual_seed(2)
    weights = torch.randn(4, 3, dtype=torch.float64, generator=g).requires_grad_()
    head = torch.randn(3, dtype=torch.float64, generator=g).requires_grad_()
    penalty = R1(1.0)
    assert torch.autograd.gradcheck(lambda w, v: penalty(inputs_for(TanhEnergy(w, v), real, fake)), (weights, head))


# ---------------------------------------------------------------- WGAN-GP


def test_gp_of_a_linear_energy_is_the_squared_distance_of_the_norm_from_one() -> None:
    energy = Linear(W)
    real, fake = batches()
    value = GradientPenalty(weight=10.0)(inputs_for(energy, real, fake))
    # ‖∇ s(x̂)‖ = ‖w‖ = 5 wherever x̂ lies: (5 − 1)² = 16
    assert value.item() == pytest.approx(16.0)
    # d/dw (‖w‖ − 1)² = 2(‖w‖ − 1)·w/‖w‖ = 2·4/5·w = 1.6·w
    value.backward()
    assert torch.allclose(energy.w.grad, 1.6 * W)


def test_gp_interpolates_with_epsilon_from_the_global_rng() -> None:
    real, fake = batches()
    torch.manual_seed(123)
    value = GradientPenalty(1.0)(inputs_for(HalfSquare(), real, fake))
    torch.manual_seed(123)
    epsilon = rearrange(torch.rand(3, dtype=torch.float64), "b -> b 1 1 1")
    mixed = epsilon * real + (1 - epsilon) * fake  # ∇ ½‖x̂‖² = x̂: GP = mean (‖x̂‖ − 1)²
    expected = (rearrange(mixed, "b ... -> b (...)").norm(dim=1) - 1).square().mean()
    assert value.item() == pytest.approx(expected.item())
    torch.manual_seed(123)  # the same seed, the same ε: resumable, since checkpoints save the global RNG
    assert GradientPenalty(1.0)(inputs_for(HalfSquare(), real, fake)).item() == value.item()


def test_gp_gradcheck_float64() -> None:
    real, fake = batches(3)
    g = torch.Generator().manual_seed(4)
    weights = torch.randn(4, 3, dtype=torch.float64, generator=g).requires_grad_()
    head = torch.randn(3, dtype=torch.float64, generator=g).requires_grad_()
    penalty = GradientPenalty(1.0)

    def gp(w: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(0)  # the same interpolates at every evaluation
        return penalty(inputs_for(TanhEnergy(w, v), real, fake))

    assert torch.autograd.gradcheck(gp, (weights, head))


@pytest.mark.parametrize(("name", "cls"), [("r1", R1), ("gp", GradientPenalty)])
def test_registered_with_weight_ten(name: str, cls: type) -> None:
    built = REGISTRIES.regularizers.get(name).create({})
    assert isinstance(built, cls) and built.weight == 10.0 and built.side == "discriminator"
    assert REGISTRIES.regularizers.get(name).create({"weight": "2.5"}).weight == 2.5


# ---------------------------------------------------------------- spectral normalisation


def matrix(layer: nn.Module) -> torch.Tensor:
    """The normalised weight as the matrix spectral_norm divides by its σ (transposed convolutions: dim 1 first)."""
    weight = layer.weight
    if isinstance(layer, nn.ConvTranspose2d):
        weight = rearrange(weight, "i o ... -> o i ...")
    return rearrange(weight, "o ... -> o (...)")


@pytest.mark.parametrize(
    ("energy", "params", "shape"),
    [
        ("autoencoder", {}, (1, 8, 8)),
        ("autoencoder", {"body": "conv", "width": 8, "code_dim": 16}, (1, 16, 16)),
        ("logit", {"size": 32}, (1, 8, 8)),
    ],
    ids=["autoencoder-mlp", "autoencoder-conv", "logit"],
)
def test_spectral_norm_leaves_each_layer_with_largest_singular_value_one(energy: str, params: dict, shape: tuple) -> None:
    torch.manual_seed(0)
    module = REGISTRIES.energies.get(energy).create({**params, "spectral_norm": True}, shape=shape)
    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
    assert layers and all(parametrize.is_parametrized(layer, "weight") for layer in layers)
    x = torch.rand(4, *shape) * 2 - 1
    with torch.no_grad():
        for _ in range(30):  # one power iteration per training forward
            module(x)
    module.eval()  # read σ without another iteration
    for layer in layers:
        assert torch.linalg.matrix_norm(matrix(layer), ord=2).item() == pytest.approx(1.0, abs=0.01)
    plain = REGISTRIES.energies.get(energy).create(params, shape=shape)  # without the option (the default): plain layers
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())

"""The built-in losses against hand-computed values, their closed-form optima, and gradcheck."""

from __future__ import annotations

import math

import pytest
import torch

from energan.components import SeparableLoss
from energan.losses import LogisticLoss, LSIFLoss, MarginLoss
from energan.plugins import load_plugins


def t(*values: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def softplus(x: float) -> float:
    """log(1 + e^x), by hand (no torch)."""
    return math.log(1.0 + math.exp(x))


@pytest.fixture(scope="module")
def losses():
    return load_plugins().registries.losses


# ---------------------------------------------------------------- hand-computed values


def test_margin_hand_values() -> None:
    loss = MarginLoss(margin=1.0)
    s_real, s_fake = t(0.2, 0.5), t(0.3, 1.5)
    # f_D = mean(s_real) + mean([m − s_fake]⁺)
    #     = (0.2 + 0.5)/2 + ([1 − 0.3]⁺ + [1 − 1.5]⁺)/2 = 0.35 + (0.7 + 0)/2 = 0.35 + 0.35 = 0.7
    assert loss.discriminator(s_real, s_fake).item() == pytest.approx(0.7, abs=1e-12)
    # f_G = mean(s_fake) = (0.3 + 1.5)/2 = 0.9
    assert loss.generator(s_fake).item() == pytest.approx(0.9, abs=1e-12)
    # pointwise: ℓ_real(s) = s, ℓ_fake(s) = [1 − s]⁺ = [0.7, 0], f(s) = s
    assert loss.real_penalty(s_real).tolist() == pytest.approx([0.2, 0.5])
    assert loss.fake_penalty(s_fake).tolist() == pytest.approx([0.7, 0.0])
    assert loss.generator_penalty(s_fake).tolist() == pytest.approx([0.3, 1.5])


def test_margin_hand_values_other_margin() -> None:
    loss = MarginLoss(margin=2.0)
    # m = 2: f_D = 0.35 + ([2 − 0.3]⁺ + [2 − 1.5]⁺)/2 = 0.35 + (1.7 + 0.5)/2 = 0.35 + 1.1 = 1.45
    assert loss.discriminator(t(0.2, 0.5), t(0.3, 1.5)).item() == pytest.approx(1.45, abs=1e-12)
    # a fake energy above the margin costs nothing: [2 − 3]⁺ = 0, so f_D = mean([1, 1]) + 0 = 1
    assert loss.discriminator(t(1.0, 1.0), t(3.0, 2.5)).item() == pytest.approx(1.0, abs=1e-12)
    # f_G ignores the margin: mean([3, 2.5]) = 2.75
    assert loss.generator(t(3.0, 2.5)).item() == pytest.approx(2.75, abs=1e-12)


def test_margin_diagnostics_share_of_fakes_below_the_margin() -> None:
    # m = 1: fakes 0.3 and 0.9 are below it, 1.5 and 1.0 are not → 2 of 4 push D's energy up
    values = MarginLoss(margin=1.0).diagnostics(t(0.1, 0.2, 0.3, 0.4), t(0.3, 1.5, 0.9, 1.0))
    assert values["margin_active"].item() == 0.5
    assert LogisticLoss("non-saturating").diagnostics(t(0.1), t(0.2)) == {}


def test_logistic_hand_values() -> None:
    s_real, s_fake = t(0.0, 1.0), t(-1.0, 2.0)
    # softplus by hand: log(1+e^0) = 0.693147, log(1+e^1) = 1.313262, log(1+e^-1) = 0.313262,
    #                   log(1+e^2) = 2.126928, log(1+e^-2) = 0.126928
    # f_D = mean(log(1+e^{s_real})) + mean(log(1+e^{−s_fake}))
    #     = (0.693147 + 1.313262)/2 + (log(1+e^1) + log(1+e^-2))/2 = 1.003204 + 0.720095 = 1.723299
    expected_d = (softplus(0.0) + softplus(1.0)) / 2 + (softplus(1.0) + softplus(-2.0)) / 2
    assert expected_d == pytest.approx(1.723299, abs=1e-6)
    # non-saturating: f_G = mean(log(1+e^{s_fake})) = (0.313262 + 2.126928)/2 = 1.220095
    expected_ns = (softplus(-1.0) + softplus(2.0)) / 2
    assert expected_ns == pytest.approx(1.220095, abs=1e-6)
    # saturating: f_G = −mean(log(1+e^{−s_fake})) = −(1.313262 + 0.126928)/2 = −0.720095
    expected_sat = -(softplus(1.0) + softplus(-2.0)) / 2
    assert expected_sat == pytest.approx(-0.720095, abs=1e-6)

    ns, sat = LogisticLoss("non-saturating"), LogisticLoss("saturating")
    for loss in (ns, sat):  # the discriminator side does not depend on the generator variant
        assert loss.discriminator(s_real, s_fake).item() == pytest.approx(expected_d, abs=1e-12)
    assert ns.generator(s_fake).item() == pytest.approx(expected_ns, abs=1e-12)
    assert sat.generator(s_fake).item() == pytest.approx(expected_sat, abs=1e-12)


def test_logistic_large_logits_are_stable() -> None:
    # log(1+e^x) ≈ x for x ≫ 0 and ≈ e^x for x ≪ 0: s_real = 100 → 100, s_fake = 100 → log(1+e^-100) ≈ 0
    loss = LogisticLoss("non-saturating")
    value = loss.discriminator(t(100.0), t(100.0)).item()
    assert value == pytest.approx(100.0, abs=1e-9)
    assert math.isfinite(loss.generator(t(1000.0)).item())


def test_lsif_hand_values() -> None:
    loss = LSIFLoss()
    s_real, s_fake = t(1.0, -2.0), t(0.5, 3.0)
    # ℓ_real = s² = [1, 4] → mean 2.5;  ℓ_fake = −2s = [−1, −6] → mean −3.5;  f_D = 2.5 − 3.5 = −1.0
    assert loss.discriminator(s_real, s_fake).item() == pytest.approx(-1.0, abs=1e-12)
    # f_G = mean(s_fake) = (0.5 + 3)/2 = 1.75
    assert loss.generator(s_fake).item() == pytest.approx(1.75, abs=1e-12)
    assert loss.real_penalty(s_real).tolist() == pytest.approx([1.0, 4.0])
    assert loss.fake_penalty(s_fake).tolist() == pytest.approx([-1.0, -6.0])


def test_batches_of_different_sizes_are_averaged_separately() -> None:
    # margin m=1, s_real = [1, 2, 3] (mean 2), s_fake = [0] → [1 − 0]⁺ = 1: f_D = 2 + 1 = 3
    # (a mean over the concatenation would give (1+2+3+1)/4 = 1.75)
    assert MarginLoss(1.0).discriminator(t(1.0, 2.0, 3.0), t(0.0)).item() == pytest.approx(3.0)


# ---------------------------------------------------------------- closed-form optima

P_Q_SEED = 1234


def random_p_q(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(P_Q_SEED)
    p = torch.empty(n, dtype=torch.float64).uniform_(0.1, 10.0, generator=g)
    q = torch.empty(n, dtype=torch.float64).uniform_(0.1, 10.0, generator=g)
    return p, q


def grid_argmin(loss: SeparableLoss, p: torch.Tensor, q: torch.Tensor, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per (p, q): the grid point minimising p·ℓ_real(s) + q·ℓ_fake(s), and that minimum."""
    objective = p[:, None] * loss.real_penalty(grid)[None, :] + q[:, None] * loss.fake_penalty(grid)[None, :]
    values, index = objective.min(dim=1)
    return grid[index], values


def objective_at(loss: SeparableLoss, p: torch.Tensor, q: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return p * loss.real_penalty(s) + q * loss.fake_penalty(s)


@pytest.mark.parametrize(
    ("loss", "grid"),
    [
        (LogisticLoss("non-saturating"), torch.linspace(-8.0, 8.0, 32001, dtype=torch.float64)),
        (LogisticLoss("saturating"), torch.linspace(-8.0, 8.0, 32001, dtype=torch.float64)),
        (LSIFLoss(), torch.linspace(-1.0, 101.0, 102001, dtype=torch.float64)),
    ],
    ids=["logistic-ns", "logistic-sat", "lsif"],
)
def test_optimal_discrepancy_minimises_the_pointwise_objective(loss: SeparableLoss, grid: torch.Tensor) -> None:
    p, q = random_p_q()
    closed = loss.optimal_discrepancy(p, q)
    assert closed.shape == p.shape
    best_s, best_value = grid_argmin(loss, p, q, grid)
    step = (grid[1] - grid[0]).item()
    # the closed form is no worse than any grid point, and sits where the grid minimum is
    assert torch.all(objective_at(loss, p, q, closed) <= best_value + 1e-9)
    assert torch.allclose(closed, best_s, atol=2 * step, rtol=0)


def test_optimal_discrepancy_known_points() -> None:
    # logistic: s* = log(q/p): p = q → 0, q = e·p → 1;  LSIF: s* = q/p = 3/2
    p, q = t(2.0, 1.0), t(2.0, math.e)
    assert LogisticLoss("non-saturating").optimal_discrepancy(p, q).tolist() == pytest.approx([0.0, 1.0])
    assert LSIFLoss().optimal_discrepancy(t(2.0), t(3.0)).item() == pytest.approx(1.5)


@pytest.mark.parametrize("margin", [1.0, 2.5])
def test_margin_optimal_discrepancy_over_nonnegative_s(margin: float) -> None:
    loss = MarginLoss(margin)
    p, q = random_p_q(256)
    away = (p - q).abs() > 0.05 * torch.maximum(p, q)  # the argmin is not unique at p = q
    p, q = p[away], q[away]
    assert (q > p).any() and (q < p).any()
    grid = torch.linspace(0.0, 3 * margin, 30001, dtype=torch.float64)  # s ≥ 0 only
    closed = loss.optimal_discrepancy(p, q)
    best_s, best_value = grid_argmin(loss, p, q, grid)
    step = (grid[1] - grid[0]).item()
    assert torch.all(objective_at(loss, p, q, closed) <= best_value + 1e-9)
    assert torch.allclose(closed, best_s, atol=2 * step, rtol=0)
    # and concretely: m where fakes are denser (q > p), 0 where data is denser
    assert torch.equal(closed, torch.where(q > p, margin, 0.0).to(closed.dtype))


# ---------------------------------------------------------------- gradients

LOSSES = {
    "margin": MarginLoss(1.0),
    "logistic-ns": LogisticLoss("non-saturating"),
    "logistic-sat": LogisticLoss("saturating"),
    "lsif": LSIFLoss(),
}


def gradcheck_inputs(name: str, n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    s_real = torch.randn(n, dtype=torch.float64, generator=g)
    s_fake = torch.randn(n, dtype=torch.float64, generator=g) + 1.0
    if name == "margin":
        # keep every s_fake at least 0.2 from the hinge kink s = m = 1
        near = (s_fake - 1.0).abs() < 0.2
        s_fake = torch.where(near, s_fake + 0.5 * torch.sign(s_fake - 1.0 + 1e-3), s_fake)
        assert ((s_fake - 1.0).abs() >= 0.2).all()
        assert (s_fake < 1.0).any() and (s_fake > 1.0).any()  # both sides of the hinge are exercised
    return s_real.requires_grad_(), s_fake.requires_grad_()


@pytest.mark.parametrize("name", list(LOSSES))
def test_gradcheck_discriminator_and_generator(name: str) -> None:
    loss = LOSSES[name]
    s_real, s_fake = gradcheck_inputs(name)
    assert torch.autograd.gradcheck(loss.discriminator, (s_real, s_fake))
    assert torch.autograd.gradcheck(loss.generator, (s_fake,))


def test_margin_gradient_by_hand() -> None:
    # d f_D / d s_real_i = 1/N;  d f_D / d s_fake_i = −1/N where s_fake_i < m, 0 above the margin
    s_real = t(0.2, 0.5).requires_grad_()
    s_fake = t(0.3, 1.5).requires_grad_()
    MarginLoss(1.0).discriminator(s_real, s_fake).backward()
    assert s_real.grad.tolist() == pytest.approx([0.5, 0.5])
    assert s_fake.grad.tolist() == pytest.approx([-0.5, 0.0])


# ---------------------------------------------------------------- through the plugin registry


def test_registry_margin_is_the_same_maths(losses) -> None:
    built = losses.get("margin").create({"margin": 2})
    assert isinstance(built, MarginLoss) and built.margin == 2
    # same hand value as test_margin_hand_values_other_margin: 0.35 + 1.1 = 1.45
    assert built.discriminator(t(0.2, 0.5), t(0.3, 1.5)).item() == pytest.approx(1.45, abs=1e-12)
    # default m = 0.5: f_D = mean(0.2, 0.5) + mean([0.5 − 0.3]⁺, [0.5 − 1.5]⁺) = 0.35 + 0.1 = 0.45
    assert losses.get("margin").create({}).discriminator(t(0.2, 0.5), t(0.3, 1.5)).item() == pytest.approx(0.45)
    # a string value from --set is coerced
    assert losses.get("margin").create({"margin": "2"}).margin == 2.0


@pytest.mark.parametrize(
    ("name", "params", "direct"),
    [
        ("margin", {"margin": 2}, MarginLoss(2.0)),
        ("logistic", {}, LogisticLoss("non-saturating")),
        ("logistic", {"generator_loss": "saturating"}, LogisticLoss("saturating")),
        ("lsif", {}, LSIFLoss()),
    ],
    ids=["margin", "logistic-default", "logistic-sat", "lsif"],
)
def test_registry_losses_match_direct_construction(losses, name: str, params: dict, direct: SeparableLoss) -> None:
    built = losses.get(name).create(params)
    assert type(built) is type(direct)
    g = torch.Generator().manual_seed(3)
    s_real = torch.randn(9, dtype=torch.float64, generator=g)
    s_fake = torch.randn(7, dtype=torch.float64, generator=g) * 2
    assert torch.equal(built.discriminator(s_real, s_fake), direct.discriminator(s_real, s_fake))
    assert torch.equal(built.generator(s_fake), direct.generator(s_fake))
    p, q = random_p_q(8)
    assert torch.equal(built.optimal_discrepancy(p, q), direct.optimal_discrepancy(p, q))


def test_registry_logistic_default_is_non_saturating(losses) -> None:
    # f_G(non-saturating) at s = [−1, 2] = 1.220095 (see test_logistic_hand_values), not −0.720095
    value = losses.get("logistic").create({}).generator(t(-1.0, 2.0)).item()
    assert value == pytest.approx((softplus(-1.0) + softplus(2.0)) / 2, abs=1e-12)

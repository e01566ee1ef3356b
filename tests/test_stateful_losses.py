"""Stateful losses by hand: BEGAN's k_t and M_global, MAGAN's margin rule, and the Loss contract."""

from __future__ import annotations

import math

import pytest
import torch

from energan.components import UpdateContext
from energan.errors import ConfigError
from energan.losses import AdaptiveMarginLoss, BEGANLoss, MarginLoss
from energan.plugins import load_plugins

PLAY = UpdateContext(step=0, epoch_end=False, warming_up=False)
WARM = UpdateContext(step=0, epoch_end=False, warming_up=True)
END = UpdateContext(step=0, epoch_end=True, warming_up=False)


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def value(tensor: torch.Tensor) -> float:
    return tensor.item()


@pytest.fixture(scope="module")
def losses():
    return load_plugins().registries.losses


# ---------------------------------------------------------------- the contract's defaults


def test_a_stateless_loss_has_empty_state_and_ignores_updates() -> None:
    loss = MarginLoss(1.0)
    loss.update(t(0.1), t(0.2), END)  # a no-op
    assert loss.state_dict() == {}
    loss.load_state_dict({})
    assert loss.margin == 1.0


# ---------------------------------------------------------------- BEGAN


def test_began_losses_by_hand() -> None:
    loss = BEGANLoss(gamma=0.5, lambda_k=0.1, k_init=0.25)
    s_real, s_fake = t(0.2, 0.4), t(0.1, 0.3)  # L(x) = 0.3, L(G(z)) = 0.2
    # L_D = L(x) − k·L(G(z)) = 0.3 − 0.25·0.2 = 0.25;  L_G = L(G(z)) = 0.2
    assert value(loss.discriminator(s_real, s_fake)) == pytest.approx(0.25)
    assert value(loss.generator(s_fake)) == pytest.approx(0.2)


def test_began_k_update_by_hand() -> None:
    loss = BEGANLoss(gamma=0.5, lambda_k=0.1, k_init=0.0)
    # L(x) = 0.3, L(G(z)) = 0.05: k ← clip(0 + 0.1·(0.5·0.3 − 0.05), 0, 1) = 0.1·0.1 = 0.01
    loss.update(t(0.2, 0.4), t(0.0, 0.1), PLAY)
    assert value(loss.k) == pytest.approx(0.01)
    # and L_D now weighs the fakes: 0.3 − 0.01·0.05 = 0.2995
    assert value(loss.discriminator(t(0.2, 0.4), t(0.0, 0.1))) == pytest.approx(0.2995)
    # L(G(z)) = 0.35 > γ·L(x) = 0.15: k ← 0.01 + 0.1·(0.15 − 0.35) = −0.01 → clipped to 0
    loss.update(t(0.2, 0.4), t(0.3, 0.4), PLAY)
    assert value(loss.k) == 0.0
    # the other clip: 0.999 + 0.1·0.1 = 1.009 → 1
    high = BEGANLoss(gamma=0.5, lambda_k=0.1, k_init=0.999)
    high.update(t(0.2, 0.4), t(0.0, 0.1), PLAY)
    assert value(high.k) == 1.0


def test_began_default_gain_accumulates_and_warmup_leaves_k() -> None:
    loss = BEGANLoss(gamma=0.5, lambda_k=0.001, k_init=0.0)
    for _ in range(3):  # warm-up: the control has not started
        loss.update(t(0.2, 0.4), t(0.0, 0.1), WARM)
    assert value(loss.k) == 0.0
    for _ in range(10):  # each step adds 0.001·(0.15 − 0.05) = 1e-4
        loss.update(t(0.2, 0.4), t(0.0, 0.1), PLAY)
    assert value(loss.k) == pytest.approx(1e-3)
    assert isinstance(loss.k, torch.Tensor)  # state stays a tensor: no host sync per step


def test_began_m_global_by_hand() -> None:
    loss = BEGANLoss(gamma=0.5, lambda_k=0.001, k_init=0.0)
    # M_global = L(x) + |γ·L(x) − L(G(z))|: 0.3 + |0.15 − 0.05| = 0.4;  0.3 + |0.15 − 0.35| = 0.5
    assert value(loss.diagnostics(t(0.2, 0.4), t(0.0, 0.1))["m_global"]) == pytest.approx(0.4)
    assert value(loss.diagnostics(t(0.2, 0.4), t(0.3, 0.4))["m_global"]) == pytest.approx(0.5)
    assert set(loss.diagnostics(t(0.2), t(0.1))) == {"k", "m_global"}


def test_began_state_round_trip() -> None:
    loss = BEGANLoss(gamma=0.5, lambda_k=0.1, k_init=0.0)
    loss.update(t(0.2, 0.4), t(0.0, 0.1), PLAY)
    restored = BEGANLoss(gamma=0.5, lambda_k=0.1, k_init=0.0)
    restored.load_state_dict(loss.state_dict())
    assert value(restored.k) == pytest.approx(0.01)


def test_began_registered_with_the_paper_defaults(losses) -> None:
    loss = losses.get("began").create({})
    assert (loss.gamma, loss.lambda_k, value(loss.k)) == (0.5, 0.001, 0.0)
    assert loss.domain == (0.0, math.inf)  # refuses an energy unbounded below, like the margin loss


# ---------------------------------------------------------------- MAGAN


def warmed(*real_means: float) -> AdaptiveMarginLoss:
    """A MAGAN loss after a warm-up whose batches have these mean real energies."""
    loss = AdaptiveMarginLoss()
    for mean in real_means:
        loss.update(t(mean - 0.05, mean + 0.05), t(9.0), WARM)
    return loss


def epoch(loss: AdaptiveMarginLoss, real: tuple[float, float], fake: tuple[float, float]) -> None:
    """Two energy steps of one epoch, with these batch means; the second ends the epoch."""
    loss.update(t(real[0]), t(fake[0]), PLAY)
    loss.update(t(real[1]), t(fake[1]), END)


def test_magan_margin_starts_at_the_warmup_mean_real_energy() -> None:
    loss = warmed(0.6)
    assert value(loss.margin) == pytest.approx(0.6)
    loss.update(t(0.35, 0.45), t(9.0), WARM)
    assert value(loss.margin) == pytest.approx(0.5)  # (0.6 + 0.4) / 2
    loss.update(t(0.2), t(9.0), WARM)
    assert value(loss.margin) == pytest.approx(0.4)  # (0.6 + 0.4 + 0.2) / 3; the fakes play no part


def test_magan_margin_rule_over_epochs() -> None:
    loss = warmed(0.6, 0.4, 0.2)  # m = 0.4
    # epoch 1: R = (0.3 + 0.1)/2 = 0.2, F = (0.5 + 0.7)/2 = 0.6; no previous epoch (F_prev = +∞): m stays
    epoch(loss, (0.3, 0.1), (0.5, 0.7))
    assert value(loss.margin) == pytest.approx(0.4)
    # before the epoch ends nothing changes, however low the real energy
    loss.update(t(0.1), t(0.7), PLAY)
    assert value(loss.margin) == pytest.approx(0.4)
    # epoch 2: R = (0.1 + 0.2)/2 = 0.15, F = (0.7 + 0.9)/2 = 0.8 > 0.6, R < F, R < m: m ← 0.15
    loss.update(t(0.2), t(0.9), END)
    assert value(loss.margin) == pytest.approx(0.15)
    # epoch 3: F = 0.5 went down (< 0.8): m stays though R = 0.05 < m
    epoch(loss, (0.05, 0.05), (0.5, 0.5))
    assert value(loss.margin) == pytest.approx(0.15)
    # epoch 4: F = 0.9 went up, but R = 0.3 is above m: m stays
    epoch(loss, (0.3, 0.3), (0.9, 0.9))
    assert value(loss.margin) == pytest.approx(0.15)
    # epoch 5: F = 1.0 went up, R = 0.1 < F and < m: m ← 0.1
    epoch(loss, (0.1, 0.1), (1.0, 1.0))
    assert value(loss.margin) == pytest.approx(0.1)
    # and the hinge uses it: f_D = mean D(x) + mean [m − D(G(z))]⁺ = 0.3 + (0.1 − 0.04)/2
    assert value(loss.discriminator(t(0.3), t(0.04, 0.5))) == pytest.approx(0.3 + 0.03)


def test_magan_needs_the_real_energy_below_the_fakes() -> None:
    loss = warmed(1.0)  # m = 1
    epoch(loss, (0.5, 0.5), (0.2, 0.2))  # F_prev = 0.2
    # F = 0.3 went up and R = 0.5 < m, but R ≥ F: the authors' code keeps m
    epoch(loss, (0.5, 0.5), (0.3, 0.3))
    assert value(loss.margin) == pytest.approx(1.0)


def test_magan_state_round_trip_mid_epoch() -> None:
    loss = warmed(0.6, 0.4, 0.2)
    epoch(loss, (0.3, 0.1), (0.5, 0.7))
    loss.update(t(0.1), t(0.7), PLAY)  # half of epoch 2
    restored = AdaptiveMarginLoss()
    restored.load_state_dict(loss.state_dict())
    for each in (loss, restored):
        each.update(t(0.2), t(0.9), END)
    assert value(restored.margin) == value(loss.margin) == pytest.approx(0.15)
    assert restored.state_dict()["warmup_batches"] == 3


def test_magan_logs_its_margin() -> None:
    loss = warmed(0.4)
    logs = loss.diagnostics(t(0.1, 0.2), t(0.3, 0.5))
    assert value(logs["margin"]) == pytest.approx(0.4)
    assert value(logs["margin_active"]) == 0.5  # 0.3 < 0.4, 0.5 is not


def test_magan_without_warmup_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="warmup_steps > 0"):
        AdaptiveMarginLoss().update(t(0.1), t(0.2), PLAY)

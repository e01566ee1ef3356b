"""The built-in losses: the separable ones, each stated as its pointwise penalties ℓ_real, ℓ_fake
and f, and the stateful ones of the auto-encoder family (BEGAN's k_t, MAGAN's adaptive margin)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from energan.components import Loss, SeparableLoss, UpdateContext
from energan.errors import ConfigError
from energan.options import LOGISTIC_GENERATOR_LOSSES


class MarginLoss(SeparableLoss):
    """EBGAN's hinge loss: f_D = D(x) + [m − D(G(z))]⁺, f_G = D(G(z)); energies are ≥ 0."""

    domain = (0.0, math.inf)

    def __init__(self, margin: float | Tensor) -> None:
        self.margin = margin

    def real_penalty(self, s: Tensor) -> Tensor:
        return s

    def fake_penalty(self, s: Tensor) -> Tensor:
        return F.relu(self.margin - s)

    def generator_penalty(self, s: Tensor) -> Tensor:
        return s

    def optimal_discrepancy(self, p: Tensor, q: Tensor) -> Tensor:
        """argmin_{s ≥ 0} p·s + q·[m − s]⁺ = m where q > p, 0 where q < p."""
        return self.margin * (q > p).to(p.dtype)

    def diagnostics(self, s_real: Tensor, s_fake: Tensor) -> dict[str, Tensor]:
        """``margin_active``: the share of fakes below the margin, the only ones that push D's energy up
        (1 throughout: m is never reached and f_D is D(x) − D(G(z)) + m; 0: fakes get no gradient)."""
        return {"margin_active": (s_fake < self.margin).float().mean()}


class LogisticLoss(SeparableLoss):
    """The original GAN with s = the logit of "fake": ℓ_real = softplus(s), ℓ_fake = softplus(−s).

    Generator f: ``non-saturating`` softplus(s) (maximise log D(G(z))) or ``saturating``
    −softplus(−s) (minimise log(1 − D(G(z)))), where D = σ(−s) is the probability of "real".
    """

    VARIANTS = LOGISTIC_GENERATOR_LOSSES

    def __init__(self, generator_loss: str) -> None:
        if generator_loss not in self.VARIANTS:
            raise ValueError(f"generator_loss {generator_loss!r} is not one of {', '.join(self.VARIANTS)}")
        self.generator_loss = generator_loss

    def real_penalty(self, s: Tensor) -> Tensor:
        return F.softplus(s)

    def fake_penalty(self, s: Tensor) -> Tensor:
        return F.softplus(-s)

    def generator_penalty(self, s: Tensor) -> Tensor:
        return self.generator_penalties()[self.generator_loss](s)

    def generator_penalties(self) -> dict[str, Callable[[Tensor], Tensor]]:
        return {"non-saturating": F.softplus, "saturating": lambda s: -F.softplus(-s)}

    def optimal_discrepancy(self, p: Tensor, q: Tensor) -> Tensor:
        """s* = log(q / p)."""
        return torch.log(q) - torch.log(p)


class LSIFLoss(SeparableLoss):
    """Least-squares importance fitting: ℓ_real = s², ℓ_fake = −2s, f = s; s* = q / p."""

    def real_penalty(self, s: Tensor) -> Tensor:
        return s.square()

    def fake_penalty(self, s: Tensor) -> Tensor:
        return -2 * s

    def generator_penalty(self, s: Tensor) -> Tensor:
        return s

    def optimal_discrepancy(self, p: Tensor, q: Tensor) -> Tensor:
        return q / p


class BEGANLoss(Loss):
    """BEGAN (Berthelot, Schumm, Metz 2017) on an auto-encoder energy L(v) = |v − D(v)|:
    L_D = L(x) − k_t·L(G(z)), L_G = L(G(z)), and after every energy step the proportional control
    k_{t+1} = clip(k_t + λ_k·(γ·L(x) − L(G(z))), 0, 1) on the batch means.

    Not separable: k_t couples the two terms and changes with training. The warm-up leaves k at k_0
    (the control starts with the game).
    """

    domain = (0.0, math.inf)  # L(v) ≥ 0: an energy unbounded below would be driven to −∞

    def __init__(self, gamma: float, lambda_k: float, k_init: float) -> None:
        self.gamma = gamma
        self.lambda_k = lambda_k
        self.k = torch.tensor(k_init)

    def discriminator(self, s_real: Tensor, s_fake: Tensor) -> Tensor:
        return s_real.mean() - self.k * s_fake.mean()

    def generator(self, s_fake: Tensor) -> Tensor:
        return s_fake.mean()

    def update(self, s_real: Tensor, s_fake: Tensor, context: UpdateContext) -> None:
        if context.warming_up:
            return
        balance = self.gamma * s_real.mean() - s_fake.mean()
        self.k = (self.k.to(balance.device) + self.lambda_k * balance).clamp(0.0, 1.0)

    def diagnostics(self, s_real: Tensor, s_fake: Tensor) -> dict[str, Tensor]:
        """``k`` (k_t) and ``m_global``, the convergence measure L(x) + |γ·L(x) − L(G(z))| of the batch."""
        real, fake = s_real.float().mean(), s_fake.float().mean()
        return {"k": self.k, "m_global": real + (self.gamma * real - fake).abs()}

    def state_dict(self) -> dict[str, Any]:
        return {"k": self.k}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.k = state["k"]


class AdaptiveMarginLoss(MarginLoss):
    """MAGAN (Wang, Cully, Chang, Demiris 2017): EBGAN's margin loss with an adaptive margin m.

    m starts at the mean real energy of the auto-encoder warm-up (the mean of its batches' mean
    D(x)). At the end of each epoch of the data, with R and F that epoch's mean real and fake
    energies (means of the batch means) and F_prev the previous epoch's F (+∞ before the first):
    m ← R if F > F_prev and R < F and R < m (the rule of the authors' code, gan_release.py).
    """

    STATE = ("margin", "warmup_sum", "warmup_batches", "epoch_sums", "epoch_batches", "previous_fake")
    auto_warmup_steps = 124  # two epochs of mnist5k's 4 000 training digits at batch 64 (62 batches each), as the authors pre-train

    def __init__(self) -> None:
        super().__init__(torch.zeros(()))  # set by the warm-up's first update
        self.warmup_sum = torch.zeros(())
        self.warmup_batches = 0
        self.epoch_sums = torch.zeros(2)  # Σ of the batch means over the epoch so far: real, fake
        self.epoch_batches = 0
        self.previous_fake = torch.tensor(math.inf)

    def update(self, s_real: Tensor, s_fake: Tensor, context: UpdateContext) -> None:
        if context.warming_up:
            self.warmup_sum = self.warmup_sum.to(s_real.device) + s_real.mean()
            self.warmup_batches += 1
            self.margin = self.warmup_sum / self.warmup_batches
            return
        if not self.warmup_batches:
            raise ConfigError(
                "loss magan needs warmup_steps > 0 (e.g. --set warmup_steps=124): its margin starts at the mean real energy of the warm-up"
            )
        means = torch.stack([s_real.mean(), s_fake.mean()])
        self.epoch_sums = self.epoch_sums.to(means.device) + means
        self.epoch_batches += 1
        if context.epoch_end:
            self._end_epoch()

    def _end_epoch(self) -> None:
        """Lower m to the epoch's mean real energy when the rule says so; start the next epoch."""
        real, fake = (self.epoch_sums / self.epoch_batches).unbind()
        margin = self.margin.to(real.device)
        lower = (fake > self.previous_fake.to(real.device)) & (real < fake) & (real < margin)
        self.margin = torch.where(lower, real, margin)
        self.previous_fake = fake
        self.epoch_sums = torch.zeros_like(self.epoch_sums)
        self.epoch_batches = 0

    def diagnostics(self, s_real: Tensor, s_fake: Tensor) -> dict[str, Tensor]:
        """``margin`` (m) besides ``margin_active``."""
        return {**super().diagnostics(s_real, s_fake), "margin": self.margin}

    def state_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.STATE}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self.STATE:
            setattr(self, name, state[name])

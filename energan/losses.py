"""The built-in separable losses, each stated as its pointwise penalties ℓ_real, ℓ_fake and f."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from energan.components import SeparableLoss


class MarginLoss(SeparableLoss):
    """EBGAN's hinge loss: f_D = D(x) + [m − D(G(z))]⁺, f_G = D(G(z)); energies are ≥ 0."""

    domain = (0.0, math.inf)

    def __init__(self, margin: float) -> None:
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

    VARIANTS = ("non-saturating", "saturating")

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

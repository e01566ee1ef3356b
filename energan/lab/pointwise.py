"""The inner loop solved pointwise: s*(x) = argmin_s p(x)·ℓ_real(s) + q(x)·ℓ_fake(s), numerically.

The objective only depends on the ratio of p and q, so it is minimised with weights
p/(p+q), q/(p+q): a dense search over a symmetric log-spaced set of candidate values of s (|s| up
to ``S_LIMIT``, clipped to the loss's domain) brackets the minimiser, and golden-section search
refines it. This is exact (to about √ε relative, the limit of comparing function values) for
losses whose pointwise objective is unimodal in s (every built-in one) and a good global search
otherwise. Where the minimum is reached at the search limit |s| = S_LIMIT (the objective keeps
decreasing, or is flat to float precision out to it) the optimum lies at infinity: ±inf, e.g.
log q/p where p = 0. Where p = q = 0, or the objective is flat in both directions: NaN.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from energan.components import SeparableLoss

S_LIMIT = 1e8
CANDIDATES_PER_SIDE = 2000
GOLDEN_STEPS = 90
CHUNK = 4096
INV_PHI = (math.sqrt(5) - 1) / 2


def candidate_values(domain: tuple[float, float]) -> Tensor:
    """Sorted candidate s values: fine near 0, coarse far away, inside ``domain``."""
    magnitudes = torch.expm1(torch.linspace(0, math.log1p(S_LIMIT), CANDIDATES_PER_SIDE, dtype=torch.float64))
    values = torch.cat([-magnitudes.flip(0), magnitudes[1:]])
    low, high = domain
    inside = values[(values >= low) & (values <= high)]
    ends = [torch.tensor([bound], dtype=torch.float64) for bound in domain if math.isfinite(bound)]
    return torch.unique(torch.cat([inside, *ends]))


def relative_densities(log_p: Tensor, log_q: Tensor) -> tuple[Tensor, Tensor]:
    """p and q divided by max(p, q) pointwise: the same optimum, and no underflow in the tails."""
    top = torch.maximum(log_p, log_q)
    return (log_p - top).exp(), (log_q - top).exp()


def _weighted(weight: Tensor, penalty: Tensor) -> Tensor:
    return torch.where(weight == 0, torch.zeros_like(penalty), weight * penalty)  # 0·∞ = 0 here


def pointwise_objective(loss: SeparableLoss, s: Tensor, weight_real: Tensor, weight_fake: Tensor) -> Tensor:
    """w_real·ℓ_real(s) + w_fake·ℓ_fake(s), broadcasting s against the weights."""
    return _weighted(weight_real, loss.real_penalty(s)) + _weighted(weight_fake, loss.fake_penalty(s))


def optimal_discrepancy_numeric(loss: SeparableLoss, p: Tensor, q: Tensor) -> Tensor:
    """s*(x) for densities ``p``, ``q`` given on the same points (any shape; NaN where p = q = 0)."""
    shape = p.shape
    total = p + q
    weight_real = (p / total).reshape(-1, 1).to(torch.float64)
    weight_fake = (q / total).reshape(-1, 1).to(torch.float64)
    candidates = candidate_values(loss.domain)
    result = torch.cat(
        [
            _minimise(loss, candidates, weight_real[start : start + CHUNK], weight_fake[start : start + CHUNK])
            for start in range(0, weight_real.shape[0], CHUNK)
        ]
    )
    return result.reshape(shape)


def _minimise(loss: SeparableLoss, candidates: Tensor, weight_real: Tensor, weight_fake: Tensor) -> Tensor:
    values = pointwise_objective(loss, candidates.unsqueeze(0), weight_real, weight_fake)  # [chunk, C]
    best = values.nan_to_num(nan=math.inf).argmin(dim=1)
    last = len(candidates) - 1
    low = candidates[(best - 1).clamp(min=0)]
    high = candidates[(best + 1).clamp(max=last)]
    refined = _golden(loss, low, high, weight_real.squeeze(1), weight_fake.squeeze(1))
    coarse = candidates[best]
    refined_value = pointwise_objective(loss, refined, weight_real.squeeze(1), weight_fake.squeeze(1))
    coarse_value = values.gather(1, best.unsqueeze(1)).squeeze(1)
    result = torch.where(refined_value <= coarse_value, refined, coarse)
    # Minimisers that reach a search limit (ties included: the objective may be flat to float
    # precision out there) mean the optimum lies at infinity in that direction.
    tied = values <= values.gather(1, best.unsqueeze(1))
    limit = S_LIMIT * (1 - 1e-9)
    upward = tied[:, -1] & bool(candidates[-1] >= limit)
    downward = tied[:, 0] & bool(candidates[0] <= -limit)
    result = torch.where(upward & ~downward, math.inf, torch.where(downward & ~upward, -math.inf, result))
    undefined = weight_real.squeeze(1).isnan() | (upward & downward)
    return torch.where(undefined, torch.nan, result)


def _golden(loss: SeparableLoss, low: Tensor, high: Tensor, weight_real: Tensor, weight_fake: Tensor) -> Tensor:
    """Vectorised golden-section search for the minimum of the pointwise objective on [low, high]."""
    for _ in range(GOLDEN_STEPS):
        left = high - INV_PHI * (high - low)
        right = low + INV_PHI * (high - low)
        go_left = pointwise_objective(loss, left, weight_real, weight_fake) <= pointwise_objective(loss, right, weight_real, weight_fake)
        high = torch.where(go_left, right, high)
        low = torch.where(go_left, low, left)
    # The bracket is now ulps wide. At a kink (the margin's s = m) with a tiny weight on one side,
    # the objective's slope is below float resolution, so also try the ends' float neighbours.
    inf = torch.full_like(low, math.inf)
    ends = torch.stack([low, (low + high) / 2, high, torch.nextafter(low, -inf), torch.nextafter(high, inf)])
    ends = ends.clamp(*loss.domain)
    values = pointwise_objective(loss, ends, weight_real, weight_fake)
    return ends.gather(0, values.argmin(0, keepdim=True)).squeeze(0)

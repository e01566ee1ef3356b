"""The inner loop solved pointwise: s*(x) = argmin_s p(x)·ℓ_real(s) + q(x)·ℓ_fake(s), numerically.

The objective only depends on the ratio of p and q, so it is minimised with weights
p/(p+q), q/(p+q): a dense search over a symmetric log-spaced set of candidate values of s (|s| up
to ``S_LIMIT``, clipped to the loss's domain) brackets the minimiser, and golden-section search
refines it. This is exact for losses whose pointwise objective is unimodal in s (every built-in
one) and a good global search otherwise. Where the minimiser sits at the search limit the
objective has no minimum there (it decreases without bound): those points are NaN.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from energan.components import SeparableLoss

S_LIMIT = 1e4
CANDIDATES_PER_SIDE = 1500
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


def pointwise_objective(loss: SeparableLoss, s: Tensor, weight_real: Tensor, weight_fake: Tensor) -> Tensor:
    """w_real·ℓ_real(s) + w_fake·ℓ_fake(s), broadcasting s against the weights."""
    return weight_real * loss.real_penalty(s) + weight_fake * loss.fake_penalty(s)


def optimal_discrepancy_numeric(loss: SeparableLoss, p: Tensor, q: Tensor) -> Tensor:
    """s*(x) for densities ``p``, ``q`` given on the same points (any shape; NaN where p = q = 0)."""
    shape = p.shape
    total = p + q
    weight_real = (p / total).reshape(-1, 1).to(torch.float64)
    weight_fake = (q / total).reshape(-1, 1).to(torch.float64)
    candidates = candidate_values(loss.domain)
    result = torch.cat([
        _minimise(loss, candidates, weight_real[start : start + CHUNK], weight_fake[start : start + CHUNK])
        for start in range(0, weight_real.shape[0], CHUNK)
    ])
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
    at_limit = (coarse.abs() >= S_LIMIT * (1 - 1e-12)) | weight_real.squeeze(1).isnan()
    return torch.where(at_limit, torch.nan, result)


def _golden(loss: SeparableLoss, low: Tensor, high: Tensor, weight_real: Tensor, weight_fake: Tensor) -> Tensor:
    """Vectorised golden-section search for the minimum of the pointwise objective on [low, high]."""
    for _ in range(GOLDEN_STEPS):
        left = high - INV_PHI * (high - low)
        right = low + INV_PHI * (high - low)
        go_left = pointwise_objective(loss, left, weight_real, weight_fake) <= pointwise_objective(
            loss, right, weight_real, weight_fake
        )
        high = torch.where(go_left, right, high)
        low = torch.where(go_left, low, left)
    # The bracket is now ulps wide. At a kink (the margin's s = m) with a tiny weight on one side,
    # the objective's slope is below float resolution, so also try the ends' float neighbours.
    inf = torch.full_like(low, math.inf)
    ends = torch.stack([low, (low + high) / 2, high, torch.nextafter(low, -inf), torch.nextafter(high, inf)])
    ends = ends.clamp(*loss.domain)
    values = pointwise_objective(loss, ends, weight_real, weight_fake)
    return ends.gather(0, values.argmin(0, keepdim=True)).squeeze(0)

"""The inner loop as it really runs: an MLP discrepancy trained on samples with the loss's batch objective."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from energan.components import SeparableLoss
from energan.lab.densities import Density


class DomainHead(nn.Module):
    """Maps a raw scalar into the loss's domain: ℝ as is, [a, ∞) by softplus, [a, b] by a sigmoid."""

    def __init__(self, domain: tuple[float, float]) -> None:
        super().__init__()
        self.low, self.high = domain

    def forward(self, raw: Tensor) -> Tensor:
        low_finite, high_finite = math.isfinite(self.low), math.isfinite(self.high)
        if low_finite and high_finite:
            return self.low + (self.high - self.low) * torch.sigmoid(raw)
        if low_finite:
            return self.low + F.softplus(raw)
        if high_finite:
            return self.high - F.softplus(-raw)
        return raw


class Discrepancy(nn.Module):
    """s_φ(x): standardise, a SiLU MLP, then the domain head; [N, dim] → [N]."""

    def __init__(self, dim: int, hidden: int, center: Tensor, scale: Tensor, domain: tuple[float, float]) -> None:
        super().__init__()
        self.register_buffer("center", center)
        self.register_buffer("scale", scale)
        self.body = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))
        self.head = DomainHead(domain)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body((x - self.center) / self.scale).squeeze(-1))


def learn_discrepancy(
    loss: SeparableLoss,
    p: Density,
    q: Density,
    steps: int = 3000,
    batch_size: int = 1024,
    hidden: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    on_step: Callable[[int], None] | None = None,
) -> Discrepancy:
    """Minimise E_P ℓ_real(s) + E_Q ℓ_fake(s) over an MLP s with fresh samples every step (float64).

    The learning rate decays to zero on a cosine schedule so the estimate settles instead of
    jittering with the last batches.
    """
    generator = torch.Generator().manual_seed(seed)
    pilot = torch.cat([p.sample(4096, generator), q.sample(4096, generator)])
    with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the caller's RNG
        torch.manual_seed(seed)
        model = Discrepancy(p.dim, hidden, pilot.mean(0), pilot.std(0).clamp(min=1e-6), loss.domain).double()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    for step in range(steps):
        objective = loss.discriminator(model(p.sample(batch_size, generator)), model(q.sample(batch_size, generator)))
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()
        schedule.step()
        if on_step is not None:
            on_step(step + 1)
    return model.eval()

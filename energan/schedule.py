"""The learning rates over a run: constant, then (optionally) a linear fall to zero at the last step."""

from __future__ import annotations

from torch.optim import Optimizer


def lr_factor(index: int, steps: int, decay_start: float) -> float:
    """The learning rates' multiplier at step ``index`` (0-based) of ``steps``: 1 before
    ``decay_start · steps``, then falling linearly to reach 0 at step ``steps``.

    ``decay_start = 1`` keeps the rates constant. The factor depends on the step alone, so a
    resumed run follows the same schedule.
    """
    start = decay_start * steps
    if decay_start >= 1.0 or index < start:
        return 1.0
    return max(0.0, (steps - index) / (steps - start))


def set_lr(optimizer: Optimizer, base: float, factor: float) -> None:
    """Every parameter group's rate: the configured ``base`` (``lr_d`` or ``lr_g``) times ``factor``.

    Computed from the settings, never from the optimizer's saved state, so a resume with a new
    ``lr_g`` or ``lr_d`` continues the saved schedule from the new base.
    """
    for group in optimizer.param_groups:
        group["lr"] = base * factor

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
    if index < start:
        return 1.0
    return max(0.0, (steps - index) / (steps - start))


def set_lr_factor(optimizer: Optimizer, factor: float) -> None:
    """Scale every parameter group's learning rate from its initial value (torch's ``initial_lr``
    key, saved with the optimizer's state)."""
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * factor

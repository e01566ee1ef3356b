"""Mixed precision: autocast around the networks' forward passes, a gradient scaler for fp16.

``bf16`` autocasts on CUDA and on the CPU and needs no scaler (its exponent range is fp32's);
``fp16`` autocasts on CUDA only, with one gradient scaler per optimizer so that small gradients
survive the cast. The losses, the regularizers and the pull-away kernel run outside autocast,
in fp32, on the networks' outputs.
"""

from __future__ import annotations

import contextlib
from typing import Any, get_args

import torch
from torch import Tensor

from energan.components import Side
from energan.errors import ConfigError

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """The autocast context of a run and its gradient scalers, one per side of the game (the
    discriminator's optimizer, the generator's)."""

    def __init__(self, amp: str, device: torch.device) -> None:
        if amp == "fp16" and device.type != "cuda":
            raise ConfigError(f"amp 'fp16' needs a CUDA device (its gradient scaler), not {device.type}; use amp = 'bf16' on the CPU")
        self.device = device
        self.dtype = AMP_DTYPES.get(amp)
        self.scalers = {side: torch.amp.GradScaler(device.type, enabled=amp == "fp16") for side in get_args(Side)}

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Autocast to the run's precision (nothing for fp32)."""
        return torch.autocast(self.device.type, dtype=self.dtype) if self.dtype is not None else contextlib.nullcontext()

    @staticmethod
    def update(loss: Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, inputs: list[Tensor] | None = None) -> None:
        """One optimizer update from ``loss`` through its side's ``scaler`` (gradients only into
        ``inputs`` when given)."""
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward(inputs=inputs)
        scaler.step(optimizer)
        scaler.update()

    def state_dict(self) -> dict[str, Any]:
        """The scalers' scale and growth counters (empty for bf16 and fp32)."""
        return {side: scaler.state_dict() for side, scaler in self.scalers.items() if scaler.is_enabled()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore saved scalers; a run resumed into fp16 from another precision (or saved before
        the scalers were named by the game's sides) starts fresh ones."""
        for side, scaler in self.scalers.items():
            if scaler.is_enabled() and state.get(side):
                scaler.load_state_dict(state[side])

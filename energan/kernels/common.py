"""What every pull-away implementation shares: input checks and the accumulation dtype."""

import torch
from einops import rearrange
from torch import Tensor


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """fp64 stays fp64; every other floating dtype is accumulated in fp32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def flatten_codes(codes: Tensor) -> Tensor:
    """Check codes of shape (N, ...) with N ≥ 2 and view them as (N, D)."""
    if codes.ndim == 0 or codes.shape[0] < 2:
        raise ValueError(f"pull-away needs codes of shape (N, ...) with N >= 2, got shape {tuple(codes.shape)}")
    if not codes.is_floating_point():
        raise ValueError(f"pull-away needs floating-point codes, got dtype {codes.dtype}")
    return rearrange(codes, "n ... -> n (...)")

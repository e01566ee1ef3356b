"""Fused kernels: the EBGAN pull-away term (PyTorch and Triton)."""

from energan.kernels.pullaway import IMPLEMENTATIONS, pullaway, pullaway_reference

__all__ = ["IMPLEMENTATIONS", "pullaway", "pullaway_reference"]

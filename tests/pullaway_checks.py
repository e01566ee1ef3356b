"""Checks shared by the fused and the (interpreted) Triton pull-away tests."""

from __future__ import annotations

import torch

from energan.kernels import pullaway


def value_and_grad(codes: torch.Tensor, impl: str, eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """f_PT and its gradient w.r.t. `codes` (a fresh leaf)."""
    leaf = codes.detach().requires_grad_()
    value = pullaway(leaf, eps=eps, impl=impl)
    (grad,) = torch.autograd.grad(value, leaf)
    return value.detach(), grad


def assert_matches_reference(codes: torch.Tensor, impl: str, eps: float = 1e-8) -> None:
    """``impl``'s value and gradient equal the reference's (fp64: 1e-10 absolute, fp32: 1e-5 relative)."""
    value, grad = value_and_grad(codes, impl, eps)
    ref, ref_grad = value_and_grad(codes, "reference", eps)
    assert value.dtype == ref.dtype and grad.dtype == codes.dtype
    if codes.dtype == torch.float64:
        torch.testing.assert_close(value, ref, rtol=0, atol=1e-10)
        torch.testing.assert_close(grad, ref_grad, rtol=0, atol=1e-10)
    else:
        torch.testing.assert_close(value, ref, rtol=1e-5, atol=1e-8)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-5 * (1.0 + ref_grad.abs().max().item()))


def special_rows(n: int, d: int, device: str = "cpu") -> torch.Tensor:
    """Random float64 codes with duplicate, opposite and zero rows and rows of very different scale."""
    codes = torch.randn(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).to(device)
    codes[1] = codes[0]
    codes[2] = -3.0 * codes[0]
    codes[3] = 0.0
    codes[4] *= 1e4
    codes[5] *= 1e-4
    return codes


def odd_layouts(device: str = "cpu") -> list[torch.Tensor]:
    """Codes that are 4-D, permuted, transposed or strided: flattening must not copy them wrongly."""
    gen = torch.Generator().manual_seed(2)
    images = torch.randn(12, 3, 4, 5, dtype=torch.float64, generator=gen).to(device)
    wide = torch.randn(40, 30, dtype=torch.float64, generator=gen).to(device)
    return [images, images.permute(0, 3, 1, 2), wide.mT, wide[::3, ::2]]

"""EBGAN's pull-away term without the N×N similarity matrix.

    f_PT(S) = 1/(N(N-1)) Σ_i Σ_{j≠i} (ŝ_iᵀŝ_j)²,   ŝ_i = s_i / sqrt(|s_i|² + eps²)

The smooth normalisation maps a zero row to zero (no NaN; it then adds nothing) and is
used identically by every implementation. Since Σ_ij (ŝ_iᵀŝ_j)² = ‖ŜŜᵀ‖²_F = ‖ŜᵀŜ‖²_F,
the fused paths form only the smaller Gram matrix: memory O(N·D + min(N,D)²), time
O(N·D·min(N,D)). With the N×N side the diagonal is zeroed; with the D×D side the diagonal
terms Σ_i |ŝ_i|⁴ are subtracted. fp16/bf16 codes are accumulated in fp32 (fp64 stays
fp64) and the result is returned in the input dtype. Every implementation runs with autocast
switched off, so an ambient bf16/fp16 autocast never lowers the precision of its products.
"""

import functools
import importlib.util
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from energan.kernels.common import accumulation_dtype, flatten_codes
from energan.options import PULLAWAY_IMPLEMENTATIONS

IMPLEMENTATIONS = PULLAWAY_IMPLEMENTATIONS
MIN_TRITON = "3.4"  # triton.knobs (the interpreter switch) and tl.dot's input_precision


class _FusedPullAway(torch.autograd.Function):
    """Forward on the smaller Gram side; the hand-derived gradient comes out of the same pass.

    With r = (|s|² + eps²)^(-1/2), ŝ = r·s, c = 1/(N(N−1)), the gradient is 4c·Δ with
    N ≤ D: G_ij = ŝ_iᵀŝ_j (i≠j), G_ii = 0, and Δ = B S where B_ij = r_i r_j G_ij (i≠j),
      B_ii = −r_i² Σ_j G_ij²   (as ŝ_iᵀ(GŜ)_i = Σ_j G_ij²);
    N > D: M = ŜᵀŜ, q_i = |ŝ_i|², P = Ŝ M, and Δ_i = r_i (P_i − (ŝ_iᵀP_i + q_i − q_i²) ŝ_i).
    Δ is formed in forward, reusing the Gram buffers, only when a gradient is wanted;
    backward just scales it by the upstream gradient.
    """

    @staticmethod
    def forward(ctx: Any, flat: Tensor, eps: float, want_grad: bool) -> Tensor:
        n, d = flat.shape
        x = flat.to(accumulation_dtype(flat.dtype))
        scale = 1.0 / (n * (n - 1))
        if n <= d:
            gram = x @ x.mT
            r = gram.diagonal().add(eps * eps).rsqrt_()
            outer = torch.outer(r, r)
            gram.mul_(outer).diagonal().zero_()
            rows = gram.square().sum(dim=1)
            total = rows.sum()
            if want_grad:
                outer.mul_(4.0 * scale)
                gram.mul_(outer).diagonal().copy_(rows.mul_(outer.diagonal()).neg_())
                ctx.save_for_backward(gram @ x)
        else:
            sq = x.square().sum(dim=1)
            r = sq.add(eps * eps).rsqrt_()
            xh = x * r.unsqueeze(1)
            gram = xh.mT @ xh
            q = sq.mul_(r).mul_(r)
            total = gram.square().sum() - q.square().sum()
            if want_grad:
                delta = xh @ gram
                coef = (xh * delta).sum(dim=1).add_(q).sub_(q.square())
                delta.addcmul_(xh, coef.unsqueeze(1), value=-1.0).mul_(r.mul_(4.0 * scale).unsqueeze(1))
                ctx.save_for_backward(delta)
        ctx.input_dtype = flat.dtype
        return total.mul_(scale).to(flat.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (delta,) = ctx.saved_tensors
        return (delta * grad.to(delta.dtype)).to(ctx.input_dtype), None, None


@functools.cache
def triton_unsupported() -> str | None:
    """Why the Triton kernels cannot run with the installed packages (None when they can)."""
    if importlib.util.find_spec("triton") is None:
        return "triton is not installed"
    import triton

    if not hasattr(triton, "knobs"):
        return f"triton {getattr(triton, '__version__', '?')} is older than {MIN_TRITON}, which the kernels need"
    return None


@functools.cache
def _warn_fallback(reason: str) -> None:
    warnings.warn(f"pull-away impl 'auto': {reason}; using the fused PyTorch kernel", RuntimeWarning, stacklevel=4)


def _resolve(device_type: str, impl: str) -> str:
    """Map "auto" to "triton" for CUDA tensors when a supported Triton is installed, else "fused"
    (an unsupported Triton is said once); an explicit "triton" it cannot run is an error."""
    if impl == "triton" and (reason := triton_unsupported()):
        raise ValueError(f"pull-away impl 'triton' cannot run: {reason}; use impl fused or auto")
    if impl != "auto":
        return impl
    if device_type != "cuda":
        return "fused"
    if reason := triton_unsupported():
        _warn_fallback(reason)
        return "fused"
    return "triton"


def pullaway(codes: Tensor, eps: float = 1e-8, impl: str = "auto") -> Tensor:
    """Pull-away term f_PT of codes (N, ...) as a 0-dim tensor in the codes' dtype.

    impl: "fused" (PyTorch, hand-written backward), "triton" (CUDA, or CPU under
    TRITON_INTERPRET=1; Triton ≥ 3.4), "reference" (literal N×N formula) or "auto" (triton for
    CUDA tensors when a supported Triton is installed, else fused).
    """
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"unknown pull-away impl {impl!r}; choose one of {', '.join(IMPLEMENTATIONS)}")
    with torch.autocast(codes.device.type, enabled=False):
        return _DISPATCH[_resolve(codes.device.type, impl)](codes, eps)


def _fused(codes: Tensor, eps: float) -> Tensor:
    flat = flatten_codes(codes)
    return _FusedPullAway.apply(flat, eps, torch.is_grad_enabled() and flat.requires_grad)


def _triton(codes: Tensor, eps: float) -> Tensor:
    from energan.kernels.pullaway_triton import pullaway_triton  # triton is imported only when used

    return pullaway_triton(flatten_codes(codes), eps)


def pullaway_reference(codes: Tensor, eps: float = 1e-8) -> Tensor:
    """The literal N×N formula with plain autograd (for tests and benchmarks)."""
    flat = flatten_codes(codes)
    x = flat.to(accumulation_dtype(flat.dtype))
    xh = x / (x.square().sum(dim=1, keepdim=True) + eps * eps).sqrt()
    n = x.shape[0]
    diagonal = torch.eye(n, dtype=torch.bool, device=x.device)
    similarity = (xh @ xh.mT).square().masked_fill(diagonal, 0.0)
    return (similarity.sum() / (n * (n - 1))).to(flat.dtype)


_DISPATCH: dict[str, Callable[[Tensor, float], Tensor]] = {"fused": _fused, "triton": _triton, "reference": pullaway_reference}

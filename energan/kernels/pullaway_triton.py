"""Triton kernels for the pull-away term (see `energan.kernels.pullaway` for the maths).

Forward: one pass for the inverse row norms r = (|s|² + eps²)^(-1/2), then a tiled Gram
kernel that normalises rows on the fly, writes the smaller Gram matrix (N×N with a zero
diagonal, or D×D) and reduces its squared sum with an atomic add; Ŝ is never stored.
Backward: a tiled product (G Ŝ or Ŝ M) that also reduces the row dots ŝᵀ(…), then an
element-wise pass applying the normalisation's Jacobian and writing the input's dtype.
Loads are upcast and `tl.dot` runs in full fp32 ("ieee", no TF32) or fp64 for fp64 codes.
Atomic reductions make the last bits order-dependent on a GPU. CUDA tensors only, or CPU
tensors when TRITON_INTERPRET=1 was set before triton was first imported (the interpreter).
"""

from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

from energan.errors import ConfigError
from energan.kernels.common import accumulation_dtype

INTERPRETED = triton.knobs.runtime.interpret
TL_DTYPES = {torch.float32: tl.float32, torch.float64: tl.float64}
BLOCK = 64
BLOCK_K = 32


@triton.jit
def _row_norms(
    s_ptr,
    stride_n,
    stride_d,
    n,
    d,
    eps2,
    r_ptr,
    total_ptr,
    SUBTRACT_DIAGONAL: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    """r for a block of rows; with the D×D Gram also total −= Σ_i |ŝ_i|⁴."""
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    sq = tl.zeros([BLOCK_N], dtype=ACC)
    for start in range(0, d, BLOCK_D):
        cols = start + tl.arange(0, BLOCK_D)
        mask = (rows[:, None] < n) & (cols[None, :] < d)
        s = tl.load(s_ptr + rows[:, None] * stride_n + cols[None, :] * stride_d, mask=mask, other=0.0).to(ACC)
        sq += tl.sum(s * s, axis=1)
    r = tl.rsqrt(sq + eps2)
    tl.store(r_ptr + rows, r, mask=rows < n)
    if SUBTRACT_DIAGONAL:
        q = sq * r * r
        tl.atomic_add(total_ptr, -tl.sum(q * q))


@triton.jit
def _gram(
    s_ptr,
    stride_n,
    stride_d,
    n,
    d,
    r_ptr,
    gram_ptr,
    total_ptr,
    ROWS: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK_G: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """One tile of ŜŜᵀ (ROWS, diagonal zeroed) or ŜᵀŜ; stores it and adds its squared sum."""
    i = tl.program_id(0) * BLOCK_G + tl.arange(0, BLOCK_G)
    j = tl.program_id(1) * BLOCK_G + tl.arange(0, BLOCK_G)
    size = n if ROWS else d
    acc = tl.zeros([BLOCK_G, BLOCK_G], dtype=ACC)
    if ROWS:
        for start in range(0, d, BLOCK_C):
            k = start + tl.arange(0, BLOCK_C)
            a = tl.load(s_ptr + i[:, None] * stride_n + k[None, :] * stride_d, mask=(i[:, None] < n) & (k[None, :] < d), other=0.0).to(ACC)
            b = tl.load(s_ptr + j[None, :] * stride_n + k[:, None] * stride_d, mask=(j[None, :] < n) & (k[:, None] < d), other=0.0).to(ACC)
            acc = tl.dot(a, b, acc, input_precision="ieee", out_dtype=ACC)
        ri = tl.load(r_ptr + i, mask=i < n, other=0.0)
        rj = tl.load(r_ptr + j, mask=j < n, other=0.0)
        acc = tl.where(i[:, None] == j[None, :], 0.0, acc * ri[:, None] * rj[None, :])
    else:
        for start in range(0, n, BLOCK_C):
            k = start + tl.arange(0, BLOCK_C)
            rk = tl.load(r_ptr + k, mask=k < n, other=0.0)
            a = tl.load(s_ptr + k[None, :] * stride_n + i[:, None] * stride_d, mask=(k[None, :] < n) & (i[:, None] < d), other=0.0).to(ACC)
            b = tl.load(s_ptr + k[:, None] * stride_n + j[None, :] * stride_d, mask=(k[:, None] < n) & (j[None, :] < d), other=0.0).to(ACC)
            acc = tl.dot(a * (rk * rk)[None, :], b, acc, input_precision="ieee", out_dtype=ACC)
    tl.store(gram_ptr + i[:, None] * size + j[None, :], acc, mask=(i[:, None] < size) & (j[None, :] < size))
    tl.atomic_add(total_ptr, tl.sum(acc * acc))


@triton.jit
def _gram_product(
    s_ptr,
    stride_n,
    stride_d,
    n,
    d,
    r_ptr,
    gram_ptr,
    p_ptr,
    dots_ptr,
    ROWS: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_F: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """A tile of P = G Ŝ (ROWS) or Ŝ M; also dots_i += ŝ_iᵀP_i over the tile's columns."""
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.program_id(1) * BLOCK_F + tl.arange(0, BLOCK_F)
    r_rows = tl.load(r_ptr + rows, mask=rows < n, other=0.0)
    acc = tl.zeros([BLOCK_R, BLOCK_F], dtype=ACC)
    if ROWS:
        for start in range(0, n, BLOCK_C):
            k = start + tl.arange(0, BLOCK_C)
            g = tl.load(gram_ptr + rows[:, None] * n + k[None, :], mask=(rows[:, None] < n) & (k[None, :] < n), other=0.0)
            rk = tl.load(r_ptr + k, mask=k < n, other=0.0)
            b = tl.load(
                s_ptr + k[:, None] * stride_n + cols[None, :] * stride_d, mask=(k[:, None] < n) & (cols[None, :] < d), other=0.0
            ).to(ACC)
            acc = tl.dot(g, b * rk[:, None], acc, input_precision="ieee", out_dtype=ACC)
    else:
        for start in range(0, d, BLOCK_C):
            k = start + tl.arange(0, BLOCK_C)
            a = tl.load(
                s_ptr + rows[:, None] * stride_n + k[None, :] * stride_d, mask=(rows[:, None] < n) & (k[None, :] < d), other=0.0
            ).to(ACC)
            m = tl.load(gram_ptr + k[:, None] * d + cols[None, :], mask=(k[:, None] < d) & (cols[None, :] < d), other=0.0)
            acc = tl.dot(a, m, acc, input_precision="ieee", out_dtype=ACC)
        acc = acc * r_rows[:, None]
    mask = (rows[:, None] < n) & (cols[None, :] < d)
    s_hat = tl.load(s_ptr + rows[:, None] * stride_n + cols[None, :] * stride_d, mask=mask, other=0.0).to(ACC)
    s_hat = s_hat * r_rows[:, None]
    tl.store(p_ptr + rows[:, None] * d + cols[None, :], acc, mask=mask)
    tl.atomic_add(dots_ptr + rows, tl.sum(acc * s_hat, axis=1), mask=rows < n)


@triton.jit
def _input_grad(
    s_ptr,
    stride_n,
    stride_d,
    n,
    d,
    r_ptr,
    p_ptr,
    dots_ptr,
    factor_ptr,
    eps2,
    out_ptr,
    SUBTRACT_DIAGONAL: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_F: tl.constexpr,
):
    """grad_i = factor · r_i (P_i − c_i ŝ_i), c_i = ŝ_iᵀP_i (+ q_i − q_i² with the D×D Gram)."""
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.program_id(1) * BLOCK_F + tl.arange(0, BLOCK_F)
    mask = (rows[:, None] < n) & (cols[None, :] < d)
    r = tl.load(r_ptr + rows, mask=rows < n, other=0.0)
    coef = tl.load(dots_ptr + rows, mask=rows < n, other=0.0)
    if SUBTRACT_DIAGONAL:
        q = 1.0 - eps2 * r * r
        coef += q - q * q
    s_hat = tl.load(s_ptr + rows[:, None] * stride_n + cols[None, :] * stride_d, mask=mask, other=0.0).to(ACC)
    s_hat = s_hat * r[:, None]
    p = tl.load(p_ptr + rows[:, None] * d + cols[None, :], mask=mask, other=0.0)
    grad = (p - coef[:, None] * s_hat) * (r * tl.load(factor_ptr))[:, None]
    tl.store(out_ptr + rows[:, None] * d + cols[None, :], grad.to(out_ptr.dtype.element_ty), mask=mask)


class _TritonPullAway(torch.autograd.Function):
    """Triton forward (norms, fused Gram + squared sum) and hand-derived Triton backward."""

    @staticmethod
    def forward(ctx: Any, flat: Tensor, eps: float) -> Tensor:
        n, d = flat.shape
        rows = n <= d
        acc = accumulation_dtype(flat.dtype)
        size = n if rows else d
        r = torch.empty(n, dtype=acc, device=flat.device)
        gram = torch.empty(size, size, dtype=acc, device=flat.device)
        total = torch.zeros((), dtype=acc, device=flat.device)
        layout = (flat.stride(0), flat.stride(1), n, d)
        _row_norms[(triton.cdiv(n, BLOCK),)](
            flat, *layout, eps * eps, r, total, SUBTRACT_DIAGONAL=not rows, ACC=TL_DTYPES[acc], BLOCK_N=BLOCK, BLOCK_D=BLOCK
        )
        grid = (triton.cdiv(size, BLOCK), triton.cdiv(size, BLOCK))
        _gram[grid](flat, *layout, r, gram, total, ROWS=rows, ACC=TL_DTYPES[acc], BLOCK_G=BLOCK, BLOCK_C=BLOCK_K)
        ctx.save_for_backward(flat, r, gram)
        ctx.eps = eps
        ctx.scale = 1.0 / (n * (n - 1))
        return total.mul_(ctx.scale).to(flat.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        flat, r, gram = ctx.saved_tensors
        n, d = flat.shape
        rows = n <= d
        acc = TL_DTYPES[r.dtype]
        p = torch.empty(n, d, dtype=r.dtype, device=flat.device)
        dots = torch.zeros(n, dtype=r.dtype, device=flat.device)
        factor = grad.to(r.dtype) * (4.0 * ctx.scale)
        out = torch.empty(n, d, dtype=flat.dtype, device=flat.device)
        layout = (flat.stride(0), flat.stride(1), n, d)
        grid = (triton.cdiv(n, BLOCK), triton.cdiv(d, BLOCK))
        _gram_product[grid](flat, *layout, r, gram, p, dots, ROWS=rows, ACC=acc, BLOCK_R=BLOCK, BLOCK_F=BLOCK, BLOCK_C=BLOCK_K)
        _input_grad[grid](
            flat, *layout, r, p, dots, factor, ctx.eps * ctx.eps, out, SUBTRACT_DIAGONAL=not rows, ACC=acc, BLOCK_R=BLOCK, BLOCK_F=BLOCK
        )
        return out, None


def pullaway_triton(flat: Tensor, eps: float) -> Tensor:
    """f_PT of (N, D) codes with the Triton kernels (CUDA, or CPU when interpreted)."""
    if not flat.is_cuda and not INTERPRETED:
        raise ConfigError(
            f"pull-away impl 'triton' needs CUDA tensors (got {flat.device.type}) or TRITON_INTERPRET=1 set before triton is "
            "first imported; on this device use impl auto, fused or reference"
        )
    return _TritonPullAway.apply(flat, eps)

"""The Triton pull-away kernels against the reference: on CPU tensors in triton's interpreter,
or compiled on a CUDA GPU.

`@triton.jit` (triton's own library functions included) picks interpreter or compiler when
triton is first imported, so the mode is fixed at process start: with TRITON_INTERPRET=1 the
cases run on the CPU, without it on CUDA. Not collected by name; tests/test_pullaway_triton.py
runs it in a subprocess, or run it directly:
`TRITON_INTERPRET=1 pytest tests/triton_pullaway_cases.py` (or without the variable on a GPU).
"""

from __future__ import annotations

import os

import pytest
import torch
from pullaway_checks import assert_matches_reference, odd_layouts, special_rows, value_and_grad

from energan.kernels import pullaway

if os.environ.get("TRITON_INTERPRET") == "1":
    DEVICE = "cpu"
elif torch.cuda.is_available():
    DEVICE = "cuda"
else:
    raise RuntimeError("run this module on a CUDA GPU, or with TRITON_INTERPRET=1 set before the process starts")

IMPL = "triton"
SHAPES = [(2, 3), (3, 2), (5, 17), (17, 5), (70, 40), (40, 70), (130, 20), (20, 130)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_triton_matches_reference(shape: tuple[int, int], dtype: torch.dtype) -> None:
    assert_matches_reference(torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(0)).to(DEVICE), IMPL)


@pytest.mark.parametrize("n, d", [(6, 9), (9, 6)])
def test_special_rows(n: int, d: int) -> None:
    codes = special_rows(n, d, DEVICE)
    assert_matches_reference(codes, IMPL)


@pytest.mark.parametrize("codes", odd_layouts(DEVICE), ids=["4d", "permuted", "transposed", "strided"])
def test_non_contiguous_and_4d_codes(codes: torch.Tensor) -> None:
    assert_matches_reference(codes, IMPL)


def test_hand_computed_value() -> None:
    # ŝ = (1,0), (0,1), (1,1)/√2: f_PT = 2·(0 + 1/2 + 1/2) / (3·2) = 1/3.
    codes = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]], dtype=torch.float64, device=DEVICE)
    assert pullaway(codes, impl="triton").item() == pytest.approx(1 / 3, abs=1e-12)


@pytest.mark.parametrize("shape", [(4, 6), (6, 3)], ids=str)
@pytest.mark.parametrize("eps", [1e-8, 0.3])
def test_gradcheck(shape: tuple[int, int], eps: float) -> None:
    codes = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3)).to(DEVICE)
    if eps > 0.1:
        codes[0] = 0.0
    codes.requires_grad_()
    assert torch.autograd.gradcheck(lambda c: pullaway(c, eps=eps, impl="triton"), (codes,))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_accumulates_in_fp32(dtype: torch.dtype) -> None:
    codes = torch.ones(2, 4096, dtype=dtype, device=DEVICE)
    codes[1, 2048:] = 0.0
    value, grad = value_and_grad(codes, "triton")
    assert value.dtype == grad.dtype == dtype
    assert value.item() == 0.5
    random = torch.randn(40, 24, generator=torch.Generator().manual_seed(4)).to(DEVICE, dtype)
    value, grad = value_and_grad(random, "triton")
    exact, exact_grad = value_and_grad(random.float(), "fused")
    torch.testing.assert_close(value, exact.to(dtype))
    torch.testing.assert_close(grad, exact_grad.to(dtype))

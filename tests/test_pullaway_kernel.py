"""The fused pull-away kernel against the literal N×N reference, by hand and by property."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pullaway_checks import assert_matches_reference, odd_layouts, special_rows, value_and_grad

from energan.kernels import IMPLEMENTATIONS, pullaway, pullaway_reference

IMPL = "fused"
SHAPES = [(2, 1), (2, 5), (3, 3), (5, 17), (17, 5), (64, 64), (63, 65), (65, 63), (128, 8), (8, 128), (300, 20)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_fused_matches_reference(shape: tuple[int, int], dtype: torch.dtype) -> None:
    assert_matches_reference(torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(0)), IMPL)


@pytest.mark.parametrize("n, d", [(6, 9), (9, 6)])
def test_special_rows(n: int, d: int) -> None:
    """Duplicate rows, opposite rows, zero rows and rows of very different scale."""
    codes = special_rows(n, d)
    assert_matches_reference(codes, IMPL)
    assert_matches_reference(codes.float(), IMPL)


@pytest.mark.parametrize("n, d", [(4, 6), (6, 4)])
def test_all_zero_codes(n: int, d: int) -> None:
    value, grad = value_and_grad(torch.zeros(n, d), "fused")
    assert value.item() == 0.0
    assert torch.equal(grad, torch.zeros(n, d))


@pytest.mark.parametrize("codes", odd_layouts(), ids=["4d", "permuted", "transposed", "strided"])
def test_non_contiguous_and_4d_codes(codes: torch.Tensor) -> None:
    assert_matches_reference(codes, IMPL)


@pytest.mark.parametrize("impl", ["auto", "fused", "reference"])
def test_hand_computed_value(impl: str) -> None:
    # ŝ = (1,0), (0,1), (1,1)/√2: squared cosines 0, 1/2, 1/2 for the three pairs, each
    # counted twice (i,j) and (j,i): f_PT = 2·(0 + 1/2 + 1/2) / (3·2) = 1/3.
    codes = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]], dtype=torch.float64)
    assert pullaway(codes, impl=impl).item() == pytest.approx(1 / 3, abs=1e-12)
    # A zero row adds nothing: only (1,0)·(0,1) = 0 remains.
    assert pullaway(torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 5.0]]), impl=impl).item() == 0.0
    # Parallel rows: cos² = 1 for both ordered pairs.
    assert pullaway(torch.tensor([[1.0, 2.0], [2.0, 4.0]]), impl=impl).item() == pytest.approx(1.0)


@pytest.mark.parametrize("shape", [(4, 6), (6, 3), (2, 2)], ids=str)
@pytest.mark.parametrize("eps", [1e-8, 0.3])
def test_gradcheck(shape: tuple[int, int], eps: float) -> None:
    """With eps = 0.3 the (q − q²) terms of the gradient matter; row 0 is zero there."""
    codes = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    if eps > 0.1:
        codes[0] = 0.0
    codes.requires_grad_()
    assert torch.autograd.gradcheck(lambda c: pullaway(c, eps=eps, impl="fused"), (codes,))
    assert_matches_reference(codes.detach(), IMPL, eps)


def test_backward_twice_with_retained_graph() -> None:
    codes = torch.randn(5, 7, requires_grad=True)
    value = pullaway(codes, impl="fused")
    (first,) = torch.autograd.grad(value, codes, retain_graph=True)
    (second,) = torch.autograd.grad(value * 2.0, codes)
    torch.testing.assert_close(second, 2.0 * first)


def test_no_grad_and_detached_codes_give_the_same_value() -> None:
    codes = torch.randn(9, 4, requires_grad=True)
    with_graph = pullaway(codes, impl="fused")
    with torch.no_grad():
        without = pullaway(codes, impl="fused")
    assert not without.requires_grad
    assert without.item() == with_graph.item() == pullaway(codes.detach(), impl="fused").item()


def rows_bounded_away_from_zero(codes: np.ndarray) -> bool:
    return bool((np.linalg.norm(codes, axis=1) >= 0.1).all())


codes_strategy = (
    st.integers(2, 9)
    .flatmap(
        lambda n: st.integers(1, 9).flatmap(
            lambda d: arrays(np.float64, (n, d), elements=st.floats(-10, 10, allow_nan=False, allow_infinity=False))
        )
    )
    .filter(rows_bounded_away_from_zero)
)


@settings(max_examples=60, deadline=None)
@given(codes=codes_strategy, data=st.data())
def test_properties(codes: np.ndarray, data: st.DataObject) -> None:
    """f_PT ∈ [0, 1], invariant to positive row scaling and to row permutation."""
    s = torch.from_numpy(codes)
    value = pullaway(s, impl="fused").item()
    assert -1e-12 <= value <= 1 + 1e-12
    assert value == pytest.approx(pullaway_reference(s).item(), abs=1e-10)
    scales = data.draw(arrays(np.float64, (s.shape[0], 1), elements=st.floats(0.1, 10)))
    assert pullaway(s * torch.from_numpy(scales), impl="fused").item() == pytest.approx(value, abs=1e-10)
    perm = torch.tensor(data.draw(st.permutations(range(s.shape[0]))))
    assert pullaway(s[perm], impl="fused").item() == pytest.approx(value, abs=1e-10)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_accumulates_in_fp32(dtype: torch.dtype) -> None:
    # Half the coordinates shared: cos² = (D/2)² / (D · D/2) = 1/2. Summing 4096 ones in a
    # 16-bit accumulator stalls (at 256 in bf16, 2048 in fp16) and would give 1 instead.
    d = 4096
    codes = torch.ones(2, d, dtype=dtype)
    codes[1, d // 2 :] = 0.0
    value, grad = value_and_grad(codes, "fused")
    assert value.dtype == grad.dtype == dtype
    assert value.item() == 0.5
    random = torch.randn(40, 24, generator=torch.Generator().manual_seed(4)).to(dtype)
    value, grad = value_and_grad(random, "fused")
    exact, exact_grad = value_and_grad(random.float(), "fused")
    assert value.dtype == grad.dtype == dtype
    torch.testing.assert_close(value, exact.to(dtype))
    torch.testing.assert_close(grad, exact_grad.to(dtype))


def test_auto_is_fused_on_cpu_and_keeps_triton_unimported() -> None:
    script = (
        "import sys, torch\n"
        "from energan.kernels import pullaway\n"
        "codes = torch.randn(5, 3)\n"
        "assert pullaway(codes).item() == pullaway(codes, impl='fused').item()\n"
        "assert 'triton' not in sys.modules, 'energan.kernels imported triton'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("shape", [(1, 4), (1,), (0, 3), ()], ids=str)
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_too_few_rows_is_an_error(shape: tuple[int, ...], impl: str) -> None:
    with pytest.raises(ValueError, match=f"N >= 2, got shape {re.escape(str(shape))}"):
        pullaway(torch.zeros(shape), impl=impl)


def test_integer_codes_are_an_error() -> None:
    with pytest.raises(ValueError, match=r"floating-point codes, got dtype torch\.int64"):
        pullaway(torch.ones(3, 2, dtype=torch.long))


def test_unknown_impl_is_an_error() -> None:
    message = "unknown pull-away impl 'cuda'; choose one of auto, fused, triton, reference"
    with pytest.raises(ValueError, match=message):
        pullaway(torch.ones(3, 2), impl="cuda")


def test_result_is_a_scalar_in_the_input_dtype() -> None:
    value = pullaway(torch.randn(7, 2, 3, dtype=torch.float64), impl="fused")
    assert value.shape == () and value.dtype == torch.float64 and math.isfinite(value.item())

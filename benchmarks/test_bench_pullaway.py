"""Pull-away forward + backward: fused vs the N×N reference (and torch.compile of it) on CPU;
triton vs fused vs reference vs a single cuBLAS GEMM of the cheaper Gram side (the floor) on CUDA.

Full run:  pytest benchmarks --benchmark-json=bench.json
           python -m benchmarks.report bench.json bench.md
Smoke run: pytest benchmarks --benchmark-disable -m "not slow"
           (each case once as a plain test; `slow` marks N or D = 1024+ and torch.compile).

Each case records into `benchmark.extra_info` its impl, device, dtype, n, d and
`peak_extra_bytes`: the peak of memory allocated above what existed before one step.
CPU: a torch.profiler run with profile_memory=True logs every allocation and free of
PyTorch's CPU allocator with its size; the peak of their running sum in time order is the
peak. (tracemalloc and RSS do not see or isolate tensor memory.) CUDA: the caching
allocator's max_memory_allocated() after reset_peak_memory_stats(), minus the baseline.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture
from torch.profiler import ProfilerActivity, profile

from energan.kernels import pullaway, pullaway_reference

from .profiler_events import allocations

Step = Callable[[], None]


def shape_params() -> list[object]:
    """N × D grid; shapes with N or D ≥ 1024 are marked slow."""
    return [
        pytest.param(n, d, id=f"N{n}-D{d}", marks=[pytest.mark.slow] if max(n, d) >= 1024 else [])
        for n in (64, 256, 1024, 4096)
        for d in (64, 256, 1024)
    ]


@functools.cache
def compiled_reference() -> Callable[[torch.Tensor], torch.Tensor]:
    """One torch.compile of the reference, dynamic so every shape reuses it."""
    return torch.compile(pullaway_reference, dynamic=True)


def cpu_function(impl: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The CPU implementation called `impl`."""
    if impl == "fused":
        return functools.partial(pullaway, impl="fused")
    if impl == "compiled":
        return compiled_reference()
    return pullaway_reference


def training_step(fn: Callable[[torch.Tensor], torch.Tensor], codes: torch.Tensor) -> Step:
    """f_PT forward and backward into a fresh `codes.grad`, synchronised on CUDA."""

    def step() -> None:
        fn(codes).backward()
        codes.grad = None
        if codes.is_cuda:
            torch.cuda.synchronize()

    return step


def peak_extra_bytes(step: Step, device: str) -> int:
    """Peak memory allocated during one step above what was allocated before it."""
    if device == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        return torch.cuda.max_memory_allocated() - base
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = sorted(allocations(prof.profiler.kineto_results.experimental_event_tree()), key=lambda e: e.start_time_ns)
    current = peak = 0
    for event in events:
        current += event.extra_fields.alloc_size
        peak = max(peak, current)
    return peak


def run_case(benchmark: BenchmarkFixture, step: Step, impl: str, device: str, dtype: torch.dtype, n: int, d: int) -> None:
    """Warm up, record the peak memory of one step, then time the step."""
    step()
    benchmark.group = f"{device} {str(dtype).removeprefix('torch.')} N={n} D={d}"
    benchmark.extra_info.update(
        impl=impl,
        device=device,
        dtype=str(dtype).removeprefix("torch."),
        n=n,
        d=d,
        peak_extra_bytes=peak_extra_bytes(step, device),
    )
    benchmark(step)


@pytest.mark.parametrize("impl", ["fused", "reference", pytest.param("compiled", marks=pytest.mark.slow)])
@pytest.mark.parametrize("n, d", shape_params())
def test_cpu(benchmark: BenchmarkFixture, n: int, d: int, impl: str) -> None:
    codes = torch.randn(n, d, generator=torch.Generator().manual_seed(0)).requires_grad_()
    step = training_step(cpu_function(impl), codes)
    if impl == "compiled":
        try:
            step()
        except Exception as error:  # inductor needs a working C++ toolchain on CPU
            pytest.skip(f"torch.compile does not work here: {type(error).__name__}: {error}")
    run_case(benchmark, step, impl, "cpu", torch.float32, n, d)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA cases need a GPU")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=["bf16", "fp32"])
@pytest.mark.parametrize("impl", ["triton", "fused", "reference", "gemm"])
@pytest.mark.parametrize("n, d", shape_params())
def test_cuda(benchmark: BenchmarkFixture, n: int, d: int, impl: str, dtype: torch.dtype) -> None:
    codes = torch.randn(n, d, device="cuda", dtype=dtype)
    if impl == "gemm":
        gram = (lambda c: c.mT @ c) if n > d else (lambda c: c @ c.mT)

        def step() -> None:
            gram(codes)
            torch.cuda.synchronize()

    else:
        if impl == "triton":
            pytest.importorskip("triton", reason="triton is not installed")
        fn = pullaway_reference if impl == "reference" else functools.partial(pullaway, impl=impl)
        step = training_step(fn, codes.requires_grad_())
    run_case(benchmark, step, impl, "cuda", dtype, n, d)

"""The Triton pull-away kernels: interpreted on CPU, compiled for sm_90, and run on a GPU.

The kernel cases live in tests/triton_pullaway_cases.py. Interpreter or compiler is chosen
when triton is first imported (TRITON_INTERPRET=1 from process start), so each mode runs in
its own process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import torch
from packaging.version import Version

from energan.benchmarks.quick_config import QUICK_CONFIG

triton = pytest.importorskip("triton", reason="triton is not installed")

ROOT = Path(__file__).resolve().parent.parent


def run_python(args: list[str], interpret: bool) -> subprocess.CompletedProcess[str]:
    """Run the venv's python from the repository root with TRITON_INTERPRET set or unset."""
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    if interpret:
        env["TRITON_INTERPRET"] = "1"
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT, check=False)


CASES = str(ROOT / "tests" / "triton_pullaway_cases.py")


def run_cases(interpret: bool) -> None:
    result = run_python(["-m", "pytest", "-q", "-p", "no:cacheprovider", CASES], interpret=interpret)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-2000:]


@pytest.mark.skipif(
    Version(triton.__version__) < Version("3.7") and Version(numpy.__version__) >= Version("2.4"),
    reason=f"triton {triton.__version__}'s interpreter calls int() on 1-element arrays, which numpy {numpy.__version__} refuses (fixed in triton 3.7)",
)
def test_interpreted_kernels() -> None:
    """Values, gradients (gradcheck included) and dtypes of impl='triton' on CPU tensors."""
    run_cases(interpret=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the compiled kernels run on a CUDA GPU")
def test_compiled_kernels_on_cuda() -> None:
    """The same cases compiled and run on the GPU."""
    run_cases(interpret=False)


def test_cpu_tensors_need_the_interpreter() -> None:
    script = (
        "import torch\n"
        "from energan.kernels import pullaway\n"
        "try:\n"
        "    pullaway(torch.randn(4, 3), impl='triton')\n"
        "except ValueError as error:\n"
        "    print(error)\n"
    )
    result = run_python(["-c", script], interpret=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pull-away impl 'triton' needs CUDA tensors (got cpu) or TRITON_INTERPRET=1" in result.stdout


def test_a_triton_run_on_the_cpu_is_refused_in_one_line_and_leaves_no_directory(tmp_path: Path) -> None:
    """``--set reg.pullaway.impl=triton`` on a CPU without the interpreter: one line, no run directory."""
    config = tmp_path / "quick.toml"
    config.write_text(QUICK_CONFIG.format(steps=4, runs=tmp_path / "runs"))
    args = ["-m", "energan.cli", "train", "--config", str(config), "--reg", "pullaway", "--set", "reg.pullaway.impl=triton"]
    result = run_python(args, interpret=False)
    assert result.returncode == 1
    assert result.stderr.startswith("energan: error: pull-away impl 'triton' needs CUDA tensors") and result.stderr.count("\n") == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


COMPILE_SCRIPT = """
import itertools
import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
import energan.kernels.pullaway_triton as k

ints = dict.fromkeys(["stride_n", "stride_d", "n", "d"], "i32")
for acc, codes, rows in itertools.product(["fp32", "fp64"], ["fp32", "bf16"], [True, False]):
    codes = "fp64" if acc == "fp64" else codes
    ptrs = dict.fromkeys(["r_ptr", "total_ptr", "gram_ptr", "p_ptr", "dots_ptr", "factor_ptr"], "*" + acc)
    types = {**ints, **ptrs, "s_ptr": "*" + codes, "out_ptr": "*" + codes, "eps2": "fp32"}
    flags = {"ACC": getattr(tl, {"fp32": "float32", "fp64": "float64"}[acc])}
    for kernel, constants in [
        (k._row_norms, {"SUBTRACT_DIAGONAL": not rows, "BLOCK_N": k.BLOCK, "BLOCK_D": k.BLOCK}),
        (k._gram, {"ROWS": rows, "BLOCK_G": k.BLOCK, "BLOCK_C": k.BLOCK_K}),
        (k._gram_product, {"ROWS": rows, "BLOCK_R": k.BLOCK, "BLOCK_F": k.BLOCK, "BLOCK_C": k.BLOCK_K}),
        (k._input_grad, {"SUBTRACT_DIAGONAL": not rows, "BLOCK_R": k.BLOCK, "BLOCK_F": k.BLOCK}),
    ]:
        constants = {**flags, **constants}
        signature = {a: "constexpr" if a in constants else types[a] for a in kernel.arg_names}
        compiled = triton.compile(ASTSource(kernel, signature, constexprs=constants), target=GPUTarget("cuda", 90, 32))
        assert compiled.asm["cubin"], kernel.__name__
"""


def test_kernels_compile_for_sm90() -> None:
    """Ahead-of-time compilation to a cubin for an H100 needs no GPU: every variant lowers."""
    result = run_python(["-c", COMPILE_SCRIPT], interpret=False)
    assert result.returncode == 0, result.stderr[-3000:]

"""Mixed precision, torch.compile and the Triton version guard: each against the plain fp32 step.

Tolerances, stated: under bf16 autocast (8 bits of mantissa) the first step's losses and mean
energies are within 2 % of fp32's, and after 4 steps every weight is within 1e-2 of the fp32
run's (Adam at lr 1e-3 moves a weight by about lr per step, so two runs whose gradients differ in
sign can drift 2·lr per step); a compiled step's weights are within 1e-5 of the eager one's.
"""

from __future__ import annotations

import importlib
import sys
import types

import pytest
import torch
from torch._dynamo.utils import counters

from energan import load_plugins
from energan.assemble import assemble
from energan.config import TrainConfig, resolve
from energan.errors import ConfigError
from energan.kernels import pullaway
from energan.state import TrainingState
from energan.step import StepOutput, TrainStep

pullaway_module = importlib.import_module("energan.kernels.pullaway")  # the module (the package exports the function)
SMALL = {
    "device": "cpu",
    "batch_size": 16,
    "warmup_steps": 0,
    "data": {"name": "digits"},
    "energy": {"name": "autoencoder", "size": 32},
    "generator": {"name": "mlp", "size": 32, "latent_dim": 8},
    "reg": {"pullaway": {}},
    "metrics": {},
}


def trained(steps: int, **settings: object) -> tuple[TrainingState, list[StepOutput]]:
    """The small EBGAN-PT state after ``steps`` steps with ``settings`` (same seed every time), and the steps' outputs."""
    plugins = load_plugins()
    config = resolve(TrainConfig.from_dict({**SMALL, **settings}), plugins.registries)
    config, data, state = assemble(config, plugins)
    step = TrainStep(state, data, config.settings)
    return state, [step(index) for index in range(steps)]


def gaps(a: TrainingState, b: TrainingState) -> dict[str, float]:
    """The largest difference of a floating-point weight or buffer, per network."""
    pairs = {"generator": (a.model.generator, b.model.generator), "energy": (a.model.energy, b.model.energy)}
    return {
        name: max(
            (x - y).abs().max().item()
            for x, y in zip(first.state_dict().values(), second.state_dict().values(), strict=True)
            if x.is_floating_point()
        )
        for name, (first, second) in pairs.items()
    }


def scalars(out: StepOutput) -> torch.Tensor:
    return torch.stack([out.loss_d, out.loss_g, out.energies_real.mean(), out.energies_fake.mean(), out.regularizers["pullaway"]])


def test_bf16_on_the_cpu_trains_like_fp32() -> None:
    (full, full_steps), (half, half_steps) = trained(4), trained(4, amp="bf16")
    torch.testing.assert_close(scalars(half_steps[0]), scalars(full_steps[0]), rtol=2e-2, atol=0)
    assert all(scalars(out).dtype == torch.float32 for out in half_steps)  # the losses are computed in fp32
    gap = gaps(full, half)
    assert all(value < 1e-2 for value in gap.values()), gap


def test_pullaway_and_losses_stay_fp32_under_autocast() -> None:
    """Under a bf16 autocast the kernel's products stay in fp32: the same value as without autocast."""
    codes = torch.randn(16, 40, generator=torch.Generator().manual_seed(1))
    plain = pullaway(codes, impl="fused")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = pullaway(codes, impl="fused")
        lowered = (codes @ codes.mT).dtype  # what an unguarded product would have been
    assert lowered == torch.bfloat16
    assert inside.dtype == torch.float32
    torch.testing.assert_close(inside, plain, atol=0, rtol=0)


def test_fp16_needs_cuda() -> None:
    with pytest.raises(ConfigError, match=r"amp 'fp16' needs a CUDA device \(its gradient scaler\), not cpu; use amp = 'bf16'"):
        trained(0, amp="fp16")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 autocast with a gradient scaler runs on CUDA only")
def test_fp16_on_cuda_trains_like_fp32() -> None:
    (full, full_steps), (half, half_steps) = trained(4, device="cuda"), trained(4, device="cuda", amp="fp16")
    torch.testing.assert_close(scalars(half_steps[0]), scalars(full_steps[0]), rtol=2e-2, atol=0)
    assert all(value < 1e-2 for value in gaps(full, half).values())


def test_compiled_step_matches_eager_and_compiles_once() -> None:
    """Without batch-norm: the bias of a layer before batch-norm has a zero gradient up to rounding,
    which Adam turns into steps of ±lr, so there eager and compiled differ by rounding alone."""
    counters.clear()
    nets = {"generator": {**SMALL["generator"], "batch_norm": False}}
    eager, _ = trained(4, **nets)
    plugins = load_plugins()
    config = resolve(TrainConfig.from_dict({**SMALL, **nets, "compile": True}), plugins.registries)
    config, data, state = assemble(config, plugins)
    step = TrainStep(state, data, config.settings)
    step(0)
    step(1)
    graphs = counters["stats"]["unique_graphs"]
    step(2)
    step(3)
    assert counters["stats"]["unique_graphs"] == graphs, "a step recompiled"
    assert graphs > 0
    assert all(value < 1e-5 for value in gaps(eager, state).values()), gaps(eager, state)


def test_an_old_triton_falls_back_to_the_fused_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Triton without ``triton.knobs`` (older than 3.4): auto uses the fused kernel and says so once."""
    old = types.ModuleType("triton")
    old.__version__ = "3.2.0"
    old.__spec__ = importlib.machinery.ModuleSpec("triton", None)
    monkeypatch.setitem(sys.modules, "triton", old)
    pullaway_module.triton_unsupported.cache_clear()
    pullaway_module._warn_fallback.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match=r"triton 3.2.0 is older than 3.4.*using the fused PyTorch kernel"):
            assert pullaway_module._resolve("cuda", "auto") == "fused"
        assert pullaway_module._resolve("cpu", "auto") == "fused"
        with pytest.raises(ValueError, match=r"impl 'triton' cannot run: triton 3\.2\.0 is older than 3\.4"):
            pullaway_module._resolve("cuda", "triton")
    finally:
        pullaway_module.triton_unsupported.cache_clear()
        pullaway_module._warn_fallback.cache_clear()


def test_a_supported_triton_is_chosen_for_cuda() -> None:
    pytest.importorskip("triton")
    pullaway_module.triton_unsupported.cache_clear()
    assert pullaway_module.triton_unsupported() is None
    assert pullaway_module._resolve("cuda", "auto") == "triton"

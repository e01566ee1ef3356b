"""Built-in regularizers: the pull-away term on the generator side; R1 and the WGAN-GP gradient
penalty on the energy side."""

from __future__ import annotations

import torch
from einops import rearrange, reduce
from torch import Tensor, nn

from energan.components import Regularizer, RegularizerInputs, require_code
from energan.distributed import gather_with_gradient
from energan.kernels import pullaway
from energan.kernels.common import accumulation_dtype


class PullAway(Regularizer):
    """EBGAN-PT: the pull-away term on the energy's codes of the generated batch, in fp32 (codes
    from a bf16/fp16 forward are upcast). With scope "global" in a multi-process run, the codes
    of every process are gathered first, so f_PT is the whole batch's, as in one process."""

    side = "generator"

    def __init__(self, weight: float, impl: str, eps: float, scope: str = "global") -> None:
        super().__init__(weight)
        self.impl = impl
        self.eps = eps
        self.scope = scope

    def __call__(self, inputs: RegularizerInputs) -> Tensor:
        codes = require_code(inputs.fake_output, "the pull-away term")
        codes = codes.to(accumulation_dtype(codes.dtype))
        if self.scope == "global":
            codes = gather_with_gradient(codes)
        return pullaway(codes, eps=self.eps, impl=self.impl)


def input_gradient(energy: nn.Module, x: Tensor) -> Tensor:
    """∇ₓ s(x) per sample, [B, ...], kept in the graph (the penalty on it is differentiated)."""
    x = x.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(energy(x).energy.sum(), x, create_graph=True)
    return gradient


def norms(gradient: Tensor) -> Tensor:
    """‖g_i‖ per sample [B], over every non-batch dimension (its gradient at 0 is 0, not NaN)."""
    return torch.linalg.vector_norm(rearrange(gradient, "b ... -> b (...)"), dim=1)


class R1(Regularizer):
    """R1 (Mescheder, Geiger, Nowozin 2018): ½·E_real ‖∇ₓ s(x)‖², so weight · value = (γ/2)·E‖∇s‖².

    It flattens the energy around the data. energan's energies are low on data, a discriminator's
    output high: the squared norm is the same for s and −s, so this is the usual R1.
    """

    side = "discriminator"

    def __call__(self, inputs: RegularizerInputs) -> Tensor:
        return 0.5 * reduce(input_gradient(inputs.energy, inputs.real).square(), "b ... -> b", "sum").mean()


class GradientPenalty(Regularizer):
    """WGAN-GP (Gulrajani et al. 2017): E[(‖∇ s(x̂)‖ − 1)²] on x̂ = εx + (1 − ε)G(z), ε ~ U[0, 1]
    per sample. ε comes from the global torch RNG, which checkpoints save, so a resume is exact."""

    side = "discriminator"

    def __call__(self, inputs: RegularizerInputs) -> Tensor:
        real, fake = inputs.real, inputs.fake
        epsilon = rearrange(torch.rand(real.shape[0], device=real.device, dtype=real.dtype), "b -> b 1 1 1")
        mixed = epsilon * real + (1 - epsilon) * fake
        return (norms(input_gradient(inputs.energy, mixed)) - 1).square().mean()

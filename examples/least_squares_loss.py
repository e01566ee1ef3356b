"""A complete third-party loss plugin in one file: the least-squares GAN (Mao et al., 2017).

    energan -p examples/least_squares_loss.py lab --loss least-squares --json
    energan -p examples/least_squares_loss.py train --loss least-squares --energy logit --steps 2000

In energan's convention the discrepancy s is low on data: the energy regresses s to −1 on real
images and to +1 on generated ones, and the generator pulls its samples' s to ``target``. The
default target 0 is Mao et al.'s choice under which the generator minimises the Pearson χ²
divergence between P + Q and 2Q. The inner loop's pointwise optimum is s* = (q − p) / (q + p),
which ``energan lab`` checks against its numerical solution. Pair it with an energy that can go
negative (``--energy logit``): a reconstruction energy (≥ 0) cannot reach the real target.
"""

from __future__ import annotations

from dataclasses import dataclass

from energan import hookimpl
from energan.params import param

REAL_TARGET = -1.0
FAKE_TARGET = 1.0


@dataclass(frozen=True)
class LeastSquaresParams:
    target: float = param(0.0, "the s the generator pulls its samples to (0: Pearson χ²; -1: the real target)")


def build_least_squares(params: LeastSquaresParams):
    """ℓ_real = ½(s + 1)², ℓ_fake = ½(s − 1)², f = ½(s − target)²; s* = (q − p) / (q + p)."""
    from torch import Tensor

    from energan.components import SeparableLoss

    class LeastSquaresLoss(SeparableLoss):
        def real_penalty(self, s: Tensor) -> Tensor:
            return 0.5 * (s - REAL_TARGET).square()

        def fake_penalty(self, s: Tensor) -> Tensor:
            return 0.5 * (s - FAKE_TARGET).square()

        def generator_penalty(self, s: Tensor) -> Tensor:
            return 0.5 * (s - params.target).square()

        def optimal_discrepancy(self, p: Tensor, q: Tensor) -> Tensor:
            return (p * REAL_TARGET + q * FAKE_TARGET) / (p + q)  # the p- and q-weighted mean of the targets

    return LeastSquaresLoss()


@hookimpl
def register_losses(register) -> None:
    register("least-squares", build_least_squares, params=LeastSquaresParams)

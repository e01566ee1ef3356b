"""Built-in regularizers."""

from __future__ import annotations

from torch import Tensor

from energan.components import Regularizer, RegularizerInputs, require_code
from energan.kernels import pullaway


class PullAway(Regularizer):
    """EBGAN-PT: the pull-away term on the energy's codes of the generated batch."""

    side = "generator"

    def __init__(self, weight: float, impl: str, eps: float) -> None:
        super().__init__(weight)
        self.impl = impl
        self.eps = eps

    def __call__(self, inputs: RegularizerInputs) -> Tensor:
        return pullaway(require_code(inputs.fake_output, "the pull-away term"), eps=self.eps, impl=self.impl)

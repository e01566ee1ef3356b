"""The floor of a training step: the time of its matrix products alone.

One call of the step runs under a dispatch mode that records every matrix product and
convolution it makes (forward and backward), with copies of their arguments; replaying the
recording runs the same products on the same shapes, strides and threads and nothing else.
A step's time over its replay's time is how far it is from what its arithmetic costs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

aten = torch.ops.aten
MATRIX_PRODUCTS = frozenset(
    {
        aten.mm.default,
        aten.addmm.default,
        aten.bmm.default,
        aten.baddbmm.default,
        aten.convolution.default,
        aten.convolution_backward.default,
    }
)

Call = tuple[Any, tuple[Any, ...], dict[str, Any]]


def detached_copy(value: Any) -> Any:
    """A tensor's copy with the same strides (a transposed view stays transposed); anything else as is."""
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


class MatrixProductRecorder(TorchDispatchMode):
    """Records the matrix products run inside it, with copies of their arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if func in MATRIX_PRODUCTS:
            self.calls.append((func, tree_map(detached_copy, args), tree_map(detached_copy, kwargs)))
        return func(*args, **kwargs)


def record_matrix_products(step: Callable[[], object]) -> list[Call]:
    """The matrix products of one call of ``step`` (which runs for real)."""
    with MatrixProductRecorder() as recorder:
        step()
    return recorder.calls


def replay(calls: list[Call]) -> Callable[[], None]:
    """A function that runs only the recorded products, on their recorded arguments."""

    def run() -> None:
        with torch.no_grad():
            for func, args, kwargs in calls:
                func(*args, **kwargs)

    return run

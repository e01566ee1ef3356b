"""The peak bytes of tensor storages alive at once while some code runs, counted op by op.

Under a fake-tensor mode nothing is allocated, so this predicts the memory of code that has
never run at its size: ``energan train --dry-run`` counts a training step with it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary


class PeakMemory(TorchDispatchMode):
    """Every storage an op returns is counted when it first appears and uncounted when it dies
    (a weakref finalizer on the storage), so ``current`` is the bytes alive and ``peak`` their most.

    torch offers this (torch.distributed._tools.mem_tracker.MemTracker, which works under
    FakeTensorMode), but it refuses a module called a second time in one tracked region
    (NotImplementedError: "multiple iterative calls"): a GAN step calls the generator twice and the
    energy ``d_steps + 1`` times. The total, which is all the plan needs, takes only the dispatch
    mode and the finalizers; storages that exist before (weights, gradients, optimizer states)
    are added with :meth:`track`, so their frees during the step (``zero_grad``) are seen too.
    Bytes are the storages' own sizes, with none of an allocator's rounding; a storage resized in
    place keeps the size it was first counted at.
    """

    def __init__(self) -> None:
        super().__init__()
        self.counted: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.current = 0
        self.peak = 0

    def track(self, tensors: Iterable[Any]) -> None:
        """Count the storages of ``tensors`` (other objects are skipped) not counted yet."""
        for tensor in tensors:
            if not isinstance(tensor, Tensor):
                continue
            storage = tensor.untyped_storage()
            if storage in self.counted:
                continue
            size = storage.nbytes()
            self.counted[storage] = size
            weakref.finalize(storage, self._free, size)
            self.current += size
        self.peak = max(self.peak, self.current)

    def _free(self, size: int) -> None:
        self.current -= size

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        self.track(tree_leaves(out))
        return out

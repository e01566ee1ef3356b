"""Reading torch.profiler's event tree: the allocations and frees of PyTorch's CPU allocator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch._C._profiler import _EventType


def allocations(nodes: list[Any]) -> Iterator[Any]:
    """The allocation and free events (negative sizes) of a profiler event tree."""
    for node in nodes:
        if node.tag == _EventType.Allocation:
            yield node
        yield from allocations(node.children)

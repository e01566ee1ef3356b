"""Batches of lazily decoded images, prepared ahead of training by DataLoader worker processes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import torch
from torch import Tensor

from energan.data import BatchStream, LazyImages
from energan.errors import DataError

PREFETCH_PER_WORKER = 4


class _BatchIndices:
    """The indices of batches ``start``, ``start + 1``, ... (a DataLoader sampler of whole batches)."""

    def __init__(self, stream: BatchStream, start: int) -> None:
        self.stream = stream
        self.start = start

    def __iter__(self) -> Iterator[Tensor]:
        return (self.stream.indices(index) for index in itertools.count(self.start))


class _StoredBatches:
    """A DataLoader dataset whose item is a whole batch: the stored pixels of a tensor of indices."""

    def __init__(self, images: LazyImages) -> None:
        self.images = images

    def __getitem__(self, indices: Tensor) -> Tensor:
        return self.images.stored(indices)


class PrefetchingStream:
    """The same batches as ``BatchStream.batch(index)`` (uint8), decoded in worker processes, pinned for CUDA.

    Training asks for consecutive indices; any other index (a resume) restarts the workers there.
    """

    def __init__(self, stream: BatchStream, images: LazyImages, pin_memory: bool) -> None:
        self.stream = stream
        self.images = images
        self.pin_memory = pin_memory
        self._next: int | None = None
        self._batches: Iterator[Tensor] | None = None

    def batch(self, index: int) -> Tensor:
        if index != self._next or self._batches is None:
            self._batches = iter(
                torch.utils.data.DataLoader(
                    _StoredBatches(self.images),
                    sampler=_BatchIndices(self.stream, index),
                    batch_size=None,  # each sampled item is a whole batch, read at once as uint8
                    num_workers=self.images.workers,
                    pin_memory=self.pin_memory,
                    prefetch_factor=PREFETCH_PER_WORKER,
                    persistent_workers=False,
                )
            )
        self._next = index + 1
        try:
            return next(self._batches)
        except DataError as error:  # re-raised from a worker with its traceback: keep the last line
            raise DataError(str(error).strip().splitlines()[-1].partition("DataError: ")[2] or str(error)) from None

    @property
    def batches_per_epoch(self) -> int:
        return self.stream.batches_per_epoch

    def close(self) -> None:
        """Stop the worker processes (dropping the DataLoader iterator shuts them down)."""
        self._batches = None
        self._next = None


def batch_stream(
    images: Tensor | LazyImages, batch_size: int, seed: int, device: torch.device, rank: int = 0, ranks: int = 1
) -> BatchStream | PrefetchingStream:
    """In-memory tensors are indexed directly; lazy images with workers are decoded ahead (only
    this process's share of each batch)."""
    stream = BatchStream(images, batch_size, seed, rank, ranks)
    if isinstance(images, Tensor) or not images.workers:
        return stream
    return PrefetchingStream(stream, images, pin_memory=device.type == "cuda")

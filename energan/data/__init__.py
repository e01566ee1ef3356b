"""Datasets as image tensors in [-1, 1], and a resumable batch stream over them."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor


class LazyImages(Protocol):
    """Images read on demand (a folder of files, a prepared store): a length, a shape, indexing
    into floats in [-1, 1], and the stored pixels that training batches carry."""

    workers: int  # processes that read upcoming batches ahead of training (0: read in the training process)

    @property
    def shape(self) -> tuple[int, int, int, int]: ...

    def __len__(self) -> int: ...

    def __getitem__(self, index: int | Tensor) -> Tensor: ...

    def stored(self, index: Tensor) -> Tensor:
        """uint8 [B, C, H, W] in 0..255: a quarter of the floats' bytes to gather, pin and copy;
        the step scales them on its device (:func:`unit_range`)."""
        ...


def unit_range(batch: Tensor) -> Tensor:
    """Stored uint8 pixels as floats in [-1, 1] (on the batch's device); float batches as they are."""
    return batch.float().div_(127.5).sub_(1.0) if batch.dtype == torch.uint8 else batch


@dataclasses.dataclass
class ImageData:
    """A dataset: train (and optionally test) images [N, C, H, W] in [-1, 1], with labels if any.

    ``key`` identifies the data for caches (e.g. the classifier behind the Inception Score);
    ``identity``, where given, stands for the content of images read from files (a hash of their
    listing), which the fingerprint then covers instead of the pixels.
    Synthetic mixtures also give their ``modes`` [K, D] and per-coordinate ``mode_std`` (in data
    units), which the mode-coverage metric scores against.
    """

    key: str
    train_images: Tensor | LazyImages
    train_labels: Tensor | None = None
    test_images: Tensor | None = None
    test_labels: Tensor | None = None
    num_classes: int | None = None
    modes: Tensor | None = None
    mode_std: float | None = None
    identity: str | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        channels, height, width = self.train_images.shape[1:]
        return channels, height, width

    @functools.cached_property
    def info(self) -> DataInfo:
        """The dataset's identity, computed once (hashing the training split in memory)."""
        return DataInfo(self.key, self.shape, self.num_classes, len(self.train_images), _fingerprint(self))

    def load(self) -> ImageData:
        """Already in memory (the :class:`DataSource` contract)."""
        return self


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """What identifies a dataset without its images: saved in every checkpoint, so that sampling and
    cached metric references (the Inception Score's classifier, FID statistics) need no data."""

    key: str
    shape: tuple[int, int, int]
    num_classes: int | None
    train_size: int
    fingerprint: str  # content hash of the in-memory training split (images and labels)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DataInfo:
        return cls(**{**raw, "shape": tuple(raw["shape"])})


class DataSource(Protocol):
    """A dataset a metric can score against: its identity at once, its images on demand."""

    @property
    def info(self) -> DataInfo: ...

    @property
    def shape(self) -> tuple[int, int, int]: ...

    def load(self) -> ImageData: ...


@dataclasses.dataclass
class DeferredData:
    """A dataset known by its :class:`DataInfo` and loaded only when something needs its images
    (a metric whose cached reference is missing): sampling a saved run never reads the data."""

    info: DataInfo
    loader: Callable[[], ImageData]
    _loaded: ImageData | None = dataclasses.field(default=None, init=False, repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.info.shape

    def load(self) -> ImageData:
        if self._loaded is None:
            self._loaded = self.loader()
        return self._loaded


def _fingerprint(data: ImageData) -> str:
    """sha256 of the training images and labels; images read from files are hashed by their
    count and the identity of the files (their listing)."""
    digest = hashlib.sha256(data.key.encode())
    if isinstance(data.train_images, Tensor):
        digest.update(data.train_images.contiguous().numpy().tobytes())
    else:
        digest.update(f"{len(data.train_images)} {data.identity or ''}".encode())
    if data.train_labels is not None:
        digest.update(data.train_labels.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class BatchStream:
    """Batch ``k`` of a seeded, epoch-wise shuffled stream, computed from ``k`` alone.

    Epoch e is the permutation drawn from a generator seeded with (seed, e), so a run that
    resumes at step k sees exactly the batches it would have seen: no sampler state to save.
    In a run over several processes, ``batch_size`` is the global batch and process ``rank`` of
    ``ranks`` takes its contiguous share of each one.
    """

    def __init__(self, images: Tensor | LazyImages, batch_size: int, seed: int, rank: int = 0, ranks: int = 1) -> None:
        if batch_size > len(images):
            raise ValueError(f"batch_size {batch_size} is larger than the dataset ({len(images)} images)")
        self.images = images
        self.batch_size = batch_size
        self.seed = seed
        self.share = batch_size // ranks
        self.offset = rank * self.share
        self.batches_per_epoch = len(images) // batch_size
        self._epoch = -1
        self._order = torch.empty(0, dtype=torch.long)

    def indices(self, index: int) -> Tensor:
        """The dataset indices of batch ``index`` (this process's share of it)."""
        epoch, position = divmod(index, self.batches_per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._order = torch.randperm(len(self.images), generator=generator)
            self._epoch = epoch
        start = position * self.batch_size + self.offset
        return self._order[start : start + self.share]

    def batch(self, index: int) -> Tensor:
        """Batch ``index`` as stored: floats of in-memory images, uint8 pixels of lazy ones."""
        indices = self.indices(index)
        return self.images[indices] if isinstance(self.images, Tensor) else self.images.stored(indices)

    def close(self) -> None:
        """In-memory batches hold no workers (the same interface as the prefetching stream)."""

"""A prepared image folder: uint8 pixels in one flat file, read by index with no decoding.

Layout of a store directory (written by :mod:`energan.data.prepare`):

- ``images.u8``: every listed file's pixels, uint8 [files, 3, size, size] in the listing's order,
  read through a read-only memory map (the page cache is shared by every process of the machine);
- ``manifest.json``: what was prepared, from what, and which files could not be read. It is
  written last, atomically: a store without it is unfinished and never read.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from energan.data import unit_range

FORMAT = 1  # bump when the layout or the decode changes: older stores are then prepared again
CHANNELS = 3
IMAGES_FILE = "images.u8"
MANIFEST_FILE = "manifest.json"


def store_bytes(count: int, size: int) -> int:
    """Bytes on disk of ``count`` images prepared at ``size`` px: uint8 [count, 3, size, size]."""
    return count * CHANNELS * size * size


@dataclasses.dataclass(frozen=True)
class Manifest:
    """What a store holds: enough to tell whether it still matches its folder, and to read it."""

    format: int
    energan: str
    root: str
    listing: str  # sha256 of the sorted relative paths with their sizes and mtimes
    files: int  # files listed, readable or not: the slots of images.u8
    size: int
    crop: str
    resampling: str
    unreadable: list[dict[str, Any]]  # {"index", "path", "error"}, in listing order
    seconds: float  # how long the preparation took

    @property
    def readable(self) -> int:
        return self.files - len(self.unreadable)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, ensure_ascii=False) + "\n"

    @classmethod
    def read(cls, directory: Path) -> Manifest | None:
        """The store's manifest; None when there is none, or it is unreadable or of another format
        (the store is then prepared again)."""
        try:
            raw = json.loads((directory / MANIFEST_FILE).read_text())
            manifest = cls(**raw)
        except (OSError, ValueError, TypeError):
            return None
        return manifest if manifest.format == FORMAT else None


class PreparedImages:
    """Images of a store as a [N, 3, size, size] collection in [-1, 1]; index with an int or a tensor.

    ``slots`` are the rows of images.u8 this collection shows (a split, without the unreadable
    files). The memory map is opened in each process on first use and never pickled, so DataLoader
    workers and torchrun ranks share the page cache instead of copying the pixels."""

    workers = 0  # a gather takes microseconds an image: batches are read in the training process

    def __init__(self, directory: Path, size: int, slots: np.ndarray) -> None:
        self.directory = directory
        self.size = size
        self.slots = slots
        self._pixels: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return len(self.slots), CHANNELS, self.size, self.size

    def __len__(self) -> int:
        return len(self.slots)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pixels": None}

    @property
    def pixels(self) -> np.ndarray:
        """The whole store, uint8 [files, 3, size, size], memory-mapped read-only."""
        if self._pixels is None:
            flat = np.memmap(self.directory / IMAGES_FILE, dtype=np.uint8, mode="r")
            self._pixels = flat.reshape(-1, CHANNELS, self.size, self.size)
        return self._pixels

    def stored(self, index: int | Tensor) -> Tensor:
        """The stored pixels of ``index`` (uint8, [3, s, s] or [B, 3, s, s]): a gather, no decode."""
        rows = self.slots[index.numpy() if isinstance(index, Tensor) else index]
        return torch.from_numpy(np.take(self.pixels, rows, axis=0))

    def __getitem__(self, index: int | Tensor) -> Tensor:
        return unit_range(self.stored(index))

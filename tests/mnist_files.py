"""Small MNIST IDX files for tests (the dataset's real format, random pixels)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from energan.data.mnist import FILES


def idx_bytes(array: np.ndarray) -> bytes:
    codes = {np.dtype("uint8"): 0x08, np.dtype("int16"): 0x0B, np.dtype("float32"): 0x0D}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_mnist(directory: Path, train: int = 30, test: int = 10, gz: bool = True) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(test) % 10).astype(np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for key, stem in FILES.items():
        data = idx_bytes(arrays[key])
        (directory / (f"{stem}.gz" if gz else stem)).write_bytes(gzip.compress(data) if gz else data)

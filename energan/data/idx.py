"""A reader for the IDX format of MNIST-style datasets (raw or gzipped)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from energan.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> Tensor:
    """The array stored in an IDX file: magic 0x00 0x00 <dtype> <ndim>, big-endian int32 dims, data."""
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise DataError(f"{path}: a corrupt gzip file ({error})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in DTYPES:
        raise DataError(
            f"{path}: not an IDX file (magic {raw[:4].hex() or 'empty'}, expected 0000 + a type byte in "
            f"{', '.join(f'{code:02x}' for code in DTYPES)} + the number of dimensions)"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: the header declares {ndim} dimensions ({header} bytes) but the file holds {len(raw)} bytes")
    shape = tuple(int(size) for size in np.frombuffer(raw[4:header], dtype=">i4"))
    if any(size < 0 for size in shape):
        raise DataError(f"{path}: the header declares a negative size, shape {shape}")
    dtype = np.dtype(DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: header says shape {shape} ({expected} bytes) but {len(raw) - header} bytes follow")
    values = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return torch.from_numpy(values.astype(dtype.newbyteorder("=")))

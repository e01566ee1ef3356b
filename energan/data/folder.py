"""Any directory of images (CelebA, LSUN exported to JPEG/PNG, ImageNet class folders).

By default the folder is prepared once into a store at the training size
(:mod:`energan.data.prepare`) and training gathers pixels from it by index. With
``prepare = false`` every draw decodes, crops and resizes the file again (no copy on disk); the
batch stream then decodes upcoming batches in worker processes (``energan.data.loader``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from energan.cache import cache_dir
from energan.data import ImageData, LazyImages, unit_range
from energan.data.decode import decode_image
from energan.data.store import PreparedImages
from energan.errors import DataError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class ImageFiles:
    """Image files as a lazy [N, 3, size, size] collection in [-1, 1]; index with an int or a tensor.

    The paths live in one numpy bytes array, not a list of Python objects: forked DataLoader
    workers then share its pages instead of copying them as reference counts change (which,
    for ImageNet's 1.3 M paths, costs every worker hundreds of megabytes). Bytes keep any file
    name exact, and take a quarter of numpy's UTF-32 strings.
    """

    def __init__(self, paths: Sequence[Path], size: int, workers: int) -> None:
        self.paths = np.asarray([os.fsencode(path) for path in paths], dtype=bytes)
        self.size = size
        self.workers = workers

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return len(self.paths), 3, self.size, self.size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int | Tensor) -> Tensor:
        return unit_range(self.stored(index))

    def stored(self, index: int | Tensor) -> Tensor:
        """uint8 pixels of ``index``, each file decoded, cropped and resized now
        (:func:`energan.data.decode.decode_image`)."""
        if isinstance(index, Tensor):
            return torch.stack([self.stored(int(i)) for i in index])
        return torch.from_numpy(decode_image(os.fsdecode(self.paths[index]), self.size))


def find_images(root: Path) -> list[Path]:
    """Every image file under ``root`` (any depth, e.g. ImageNet's class folders), in sorted order."""
    paths = [
        Path(directory) / name
        for directory, _, names in os.walk(root, followlinks=True)
        for name in names
        if name.lower().endswith(EXTENSIONS)
    ]
    return sorted(paths)


def load_folder(
    data_dir: str | None, size: int, workers: int, test_images: int, *, prepare: bool = True, cache: Path | None = None
) -> ImageData:
    """The images under ``data_dir``, prepared once into ``cache`` on every core, or decoded on
    every draw (by ``workers`` processes) when not ``prepare``; the first ``test_images`` of a fixed
    shuffle of the readable files are held out."""
    from energan.data.prepare import folder_label, list_folder, prepared_folder

    root = folder_root(data_dir)
    listing = list_folder(root)
    if len(listing.paths) <= test_images:
        raise DataError(
            f"folder: found {len(listing.paths)} images ({', '.join(EXTENSIONS)}) under {root}; need more than the {test_images} held out for tests"
        )
    if prepare:
        directory, manifest = prepared_folder(listing, size, cache or cache_dir(), available_cores())
        readable = np.setdiff1d(np.arange(manifest.files), [failure["index"] for failure in manifest.unreadable])

        def images(rows: np.ndarray) -> LazyImages:
            return PreparedImages(directory, size, rows)
    else:  # every file counts as readable until it is drawn
        readable, paths = np.arange(len(listing.paths)), np.asarray(listing.paths, dtype=object)

        def images(rows: np.ndarray) -> LazyImages:
            return ImageFiles(list(paths[rows]), size, workers)

    if len(readable) <= test_images:
        raise DataError(f"folder: {len(readable)} readable images under {root}; need more than the {test_images} held out for tests")
    train, test = _split(readable, test_images)
    held_out = images(test)
    return ImageData(
        key=f"folder-{folder_label(root)}-{size}",  # names cache files (the FID reference): no path separators
        train_images=images(train),
        test_images=held_out[torch.arange(len(held_out))] if test_images else None,
        identity=listing.digest,
    )


def available_cores() -> int:
    """The cores this process may run on (a SLURM job's share, not the whole node's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def folder_root(data_dir: str | None) -> Path:
    """The folder named by ``data_dir``; a one-line error when it is missing."""
    if not data_dir:
        raise DataError("dataset 'folder' reads images from --data-dir; none was given")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"folder: data directory {root} does not exist or is not a directory")
    return root


def _split(files: np.ndarray, test_images: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held out) of ``files``: a fixed shuffle's first ``test_images``, each part sorted."""
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(0)).numpy()
    return files[np.sort(order[test_images:])], files[np.sort(order[:test_images])]

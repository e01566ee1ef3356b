"""Any directory of images (CelebA, LSUN exported to JPEG/PNG, ImageNet class folders), read lazily.

Images are decoded on demand, center-cropped to a square and resized; the batch stream decodes
upcoming batches in worker processes (``energan.data.loader``) so the device never waits.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from torch import Tensor

from energan.data import ImageData
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
        if isinstance(index, Tensor):
            return torch.stack([self.load(int(i)) for i in index])
        return self.load(index)

    def load(self, index: int) -> Tensor:
        """Image ``index``: RGB, the largest centered square, resized to ``size`` (bicubic, antialiased)."""
        from PIL import Image

        path = os.fsdecode(self.paths[index])
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                side = min(image.size)
                left, top = (image.width - side) // 2, (image.height - side) // 2
                image = image.crop((left, top, left + side, top + side))  # crop first: no border pixels bleed in
                image = image.resize((self.size, self.size), Image.Resampling.BICUBIC)
                pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
        except (OSError, ValueError) as error:
            raise DataError(f"folder: cannot read image {path}: {error}") from None
        image_tensor = rearrange(pixels, "(h w c) -> c h w", h=self.size, w=self.size, c=3)
        return image_tensor.float() / 127.5 - 1.0


def find_images(root: Path) -> list[Path]:
    """Every image file under ``root`` (any depth, e.g. ImageNet's class folders), in sorted order."""
    paths = [
        Path(directory) / name
        for directory, _, names in os.walk(root, followlinks=True)
        for name in names
        if name.lower().endswith(EXTENSIONS)
    ]
    return sorted(paths)


def load_folder(data_dir: str | None, size: int, workers: int, test_images: int) -> ImageData:
    """The images under ``data_dir``; the first ``test_images`` of a fixed shuffle are held out."""
    if not data_dir:
        raise DataError("dataset 'folder' reads images from --data-dir; none was given")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"folder: data directory {root} does not exist or is not a directory")
    paths = find_images(root)
    if len(paths) <= test_images:
        raise DataError(
            f"folder: found {len(paths)} images ({', '.join(EXTENSIONS)}) under {root}; need more than the {test_images} held out for tests"
        )
    order = torch.randperm(len(paths), generator=torch.Generator().manual_seed(0)).tolist()
    held_out = sorted(order[:test_images])
    train = [paths[i] for i in sorted(order[test_images:])]
    test = ImageFiles([paths[i] for i in held_out], size, workers)
    return ImageData(
        key=f"folder-{root.resolve()}-{size}",
        train_images=ImageFiles(train, size, workers),
        test_images=test[torch.arange(len(test))] if test_images else None,
    )

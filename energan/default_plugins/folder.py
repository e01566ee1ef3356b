"""A directory of images (CelebA, LSUN exported to JPEG/PNG, ImageNet class folders) as a dataset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param


@dataclass(frozen=True)
class FolderParams:
    size: int = param(64, "image side after center-crop and resize", choices=(32, 64, 128, 256))
    workers: int = param(4, "processes decoding upcoming batches (0: decode in the training process)", low=0)
    test_images: int = param(500, "images held out (a fixed random subset) as the real reference for metrics", low=0)


def build_folder(params: FolderParams, data_dir: str | None) -> Any:
    """Every .jpg/.jpeg/.png/.webp/.bmp under --data-dir, at any depth; decoded lazily."""
    from energan.data.folder import load_folder

    return load_folder(data_dir, params.size, params.workers, params.test_images)


@hookimpl
def register_datasets(register: Register) -> None:
    register("folder", build_folder, params=FolderParams)

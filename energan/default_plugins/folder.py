"""A directory of images (CelebA, LSUN exported to JPEG/PNG, ImageNet class folders) as a dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from energan.hookspecs import Register, hookimpl
from energan.params import param

SIZES = (32, 64, 128, 256)


@dataclass(frozen=True)
class FolderParams:
    size: int = param(64, "image side after center-crop and resize", choices=SIZES)
    prepare: bool = param(True, "decode the folder once into a store at this size (false: decode every image on every draw)")
    cache: str = param(
        "", "where prepared folders are kept ('': prepared/ in $ENERGAN_CACHE_DIR or ~/.cache/energan)", applies={"prepare": (True,)}
    )
    workers: int = param(4, "processes decoding upcoming batches (0: in the training process)", low=0, applies={"prepare": (False,)})
    test_images: int = param(500, "images held out (a fixed random subset) as the real reference for metrics", low=0)


def build_folder(params: FolderParams, data_dir: str | None) -> Any:
    """Every .jpg/.jpeg/.png/.webp/.bmp under --data-dir, at any depth: prepared once (on every
    core) into a store read by index, or decoded on every draw."""
    from energan.data.folder import load_folder

    cache = Path(params.cache).expanduser() if params.cache else None
    return load_folder(data_dir, params.size, params.workers, params.test_images, prepare=params.prepare, cache=cache)


@hookimpl
def register_datasets(register: Register) -> None:
    register("folder", build_folder, params=FolderParams)

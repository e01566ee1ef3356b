"""Folders of generated JPEG photos with the sizes of the paper's datasets (no real set is fetched).

Decoding cost follows a JPEG's pixel count and entropy, so the stand-ins have the real files'
dimensions and quality, and content like a photo's: smooth colour fields with edges and sensor
noise (pure noise would decode slower than any photo, a flat colour far faster).

    python -m benchmarks.photo_folders DIR KIND COUNT    # e.g. /tmp/celeba celeba 2000
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class PhotoKind:
    """A dataset's typical file: width × height in pixels and JPEG quality."""

    width: int
    height: int
    quality: int


KINDS = {
    "celeba": PhotoKind(178, 218, 95),  # img_align_celeba: every file 178 × 218
    "lsun": PhotoKind(341, 256, 75),  # LSUN's exports: the shorter side 256, typically 4:3
    "imagenet": PhotoKind(500, 375, 90),  # ILSVRC train: the most common size (average about 400 × 350)
}


def photo(rng: np.random.Generator, kind: PhotoKind) -> np.ndarray:
    """One uint8 [height, width, 3] picture: a bicubically upsampled 6×6 colour field, a few
    sharp-edged shapes, and Gaussian noise of σ = 6."""
    from PIL import Image, ImageDraw

    field = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((kind.width, kind.height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(field)
    for _ in range(4):
        x0, x1 = sorted(rng.integers(0, kind.width, 2))
        y0, y1 = sorted(rng.integers(0, kind.height, 2))
        draw.ellipse((int(x0), int(y0), int(x1), int(y1)), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    noisy = np.asarray(field, dtype=np.float32) + rng.normal(0.0, 6.0, (kind.height, kind.width, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def write_photo_folder(root: Path, kind: str, count: int, seed: int = 0) -> Path:
    """``count`` JPEGs like ``kind``'s (celeba, lsun, imagenet) in ``root``, 100 to a subfolder as
    ImageNet's classes are; a folder already holding them is kept as it is."""
    from PIL import Image

    shape = KINDS[kind]
    for index in range(count):
        path = root / f"{index // 100:04d}" / f"{index:07d}.jpg"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(photo(np.random.default_rng([seed, index]), shape)).save(path, quality=shape.quality)
    return root


if __name__ == "__main__":
    write_photo_folder(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))

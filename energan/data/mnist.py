"""MNIST from its four IDX files (gzipped or not), as the paper uses it: 28×28, or padded to 32×32."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange

from energan.data import ImageData
from energan.data.idx import read_idx
from energan.errors import DataError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
LAYOUTS = (".", "MNIST/raw")  # as given, and torchvision's download layout


def find_file(data_dir: Path, stem: str) -> Path:
    """``stem`` or ``stem.gz`` in ``data_dir`` or its MNIST/raw folder; a clear error otherwise.

    The common re-packaged spelling with a dot (``train-images.idx3-ubyte``) is accepted too.
    """
    dotted = stem.replace("-idx", ".idx")
    for layout in LAYOUTS:
        for name in (stem, f"{stem}.gz", dotted, f"{dotted}.gz"):
            candidate = data_dir / layout / name
            if candidate.is_file():
                return candidate
    looked = ", ".join(str(data_dir / layout) for layout in LAYOUTS)
    raise DataError(
        f"mnist: no {stem}[.gz] in {looked}; put the four MNIST IDX files there "
        f"({', '.join(FILES.values())}) or fetch them with --download (--set data.download=true in a sweep)"
    )


def download_mnist(data_dir: Path) -> None:
    """Fetch the IDX files with torchvision into ``data_dir/MNIST/raw`` (needs a network)."""
    try:
        from torchvision.datasets import MNIST
    except ImportError:
        raise DataError(
            f"mnist: downloading needs torchvision (pip install torchvision); or put the four IDX files in {data_dir}"
        ) from None

    for train in (True, False):
        try:
            MNIST(str(data_dir), train=train, download=True)
        except Exception as error:  # torchvision raises several kinds on network failures
            raise DataError(f"mnist: download into {data_dir} failed ({error}); fetch the IDX files by hand") from None


def load_mnist(data_dir: str | None, pad: bool, download: bool) -> ImageData:
    """Train and test images in [-1, 1] ([N, 1, 28, 28], or 32×32 padded with the background)."""
    if data_dir is None:
        raise DataError("mnist needs --data-dir DIR: the directory holding (or receiving, with download) the IDX files")
    root = Path(data_dir)
    if download:
        download_mnist(root)
    arrays = {key: read_idx(find_file(root, stem)) for key, stem in FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"mnist: {split} images of shape {tuple(images.shape)} do not match labels of shape {tuple(labels.shape)}")

    def scaled(images: torch.Tensor) -> torch.Tensor:
        images = rearrange(images.float(), "n h w -> n 1 h w") / 127.5 - 1.0
        return F.pad(images, (2, 2, 2, 2), value=-1.0) if pad else images

    return ImageData(
        key=f"mnist-{'32' if pad else '28'}-{len(arrays['train_images'])}",
        train_images=scaled(arrays["train_images"]),
        train_labels=arrays["train_labels"].long(),
        test_images=scaled(arrays["test_images"]),
        test_labels=arrays["test_labels"].long(),
        num_classes=10,
    )

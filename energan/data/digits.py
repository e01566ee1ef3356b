"""scikit-learn's bundled 8×8 handwritten digits (1 797 images): small and fast, for tests and quick checks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

from energan.data import ImageData

TEST_FRACTION = 0.2
SPLIT_SEED = 0


def load_digits(size: int) -> ImageData:
    """The digits scaled to [-1, 1], optionally upsampled (bilinear) to ``size``×``size``.

    The split is fixed and stratified: 20 % of each class is held out as the test set.
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    images = rearrange(torch.tensor(bunch.images, dtype=torch.float32), "n h w -> n 1 h w") / 8.0 - 1.0
    labels = torch.tensor(bunch.target, dtype=torch.long)
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp(-1, 1)
    train_index, test_index = train_test_split(
        range(len(labels)), test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=labels.numpy()
    )
    train_index, test_index = torch.tensor(train_index), torch.tensor(test_index)
    return ImageData(
        key=f"digits-{size}",
        train_images=images[train_index],
        train_labels=labels[train_index],
        test_images=images[test_index],
        test_labels=labels[test_index],
        num_classes=10,
    )

"""FID and KID with torchmetrics, on torch-fidelity's Inception-v3 weights read from a local file.

The weights are never swapped for another network: without the file, the metric stops with a
message saying where it looked and how to provide it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from einops import repeat
from torch import Tensor, nn

from energan.data import ImageData
from energan.errors import DataError

WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_NAME}"
WEIGHTS_ENV = "ENERGAN_INCEPTION_WEIGHTS"
FID_FEATURES = 2048
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
CHUNK = 200


def hub_weights_path() -> Path:
    """Where torch-fidelity's own download would have cached the weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_NAME


def inception_weights(explicit: str, download: bool, metric: str = "fid") -> Path:
    """The weights file: the ``weights`` parameter, $ENERGAN_INCEPTION_WEIGHTS, or torch's hub cache."""
    candidates = [Path(c).expanduser() for c in (explicit, os.environ.get(WEIGHTS_ENV, "")) if c] + [hub_weights_path()]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if explicit:
        raise DataError(f"Inception weights {explicit} do not exist; pass the path of {WEIGHTS_NAME}")
    if download:
        hub_weights_path().parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(WEIGHTS_URL, str(hub_weights_path()))
        return hub_weights_path()
    raise DataError(
        f"FID/KID need torch-fidelity's Inception-v3 weights ({WEIGHTS_NAME}); none at {', '.join(map(str, candidates))}. "
        f"Download {WEIGHTS_URL} and pass --set metrics.{metric}.weights=PATH (or set {WEIGHTS_ENV}), or --set metrics.{metric}.download=true"
    )


def to_uint8_rgb(images: Tensor) -> Tensor:
    """Images in [-1, 1], [N, C, H, W], as the uint8 RGB the Inception network expects (grey repeated)."""
    pixels = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return repeat(pixels, "n 1 h w -> n 3 h w") if pixels.shape[1] == 1 else pixels


class InceptionDistance:
    """FID (``kind="fid"``) or KID between generated samples and the dataset's held-out images."""

    higher_is_better = False

    def __init__(self, kind: str, samples: int, weights: str, download: bool, features: nn.Module | None = None) -> None:
        self.kind = kind
        self.samples = samples
        self.weights = weights
        self.download = download
        self.features = features  # another network only when a caller passes one explicitly
        self.inception = features is None

    def _network(self) -> nn.Module:
        """The Inception-v3 feature network, loaded once per metric."""
        if self.features is None:
            from torchmetrics.image.fid import NoTrainInceptionV3

            weights = inception_weights(self.weights, self.download, self.kind)
            self.features = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(weights))
        return self.features

    def _metric(self, real: int) -> object:
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance

        features = self._network()
        if self.kind == "fid":
            if self.inception and real < FID_FEATURES:
                warnings.warn(f"FID from {real} real images (< {FID_FEATURES}, the feature count) is biased upwards; hold out more", stacklevel=2)
            return FrechetInceptionDistance(feature=features)
        warnings.filterwarnings("ignore", message="Metric `Kernel Inception Distance` will save all extracted features")
        return KernelInceptionDistance(feature=features, subsets=KID_SUBSETS, subset_size=min(KID_SUBSET_SIZE, real, self.samples))

    def evaluate(self, generate: Callable[[int], Tensor], data: ImageData, final: bool = True) -> dict[str, float]:
        real = data.test_images
        if real is None or real.shape[-1] * real.shape[-2] < 16:
            raise DataError(f"{self.kind} needs images with a held-out split; dataset {data.key!r} has none")
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        metric = self._metric(len(real)).to(device)
        for chunk in real.split(CHUNK):
            metric.update(to_uint8_rgb(chunk).to(device), real=True)
        for chunk in generate(self.samples).split(CHUNK):
            metric.update(to_uint8_rgb(chunk).to(device), real=False)
        if self.kind == "fid":
            return {"fid": metric.compute().item()}
        mean, std = metric.compute()
        return {"kid": mean.item(), "kid_std": std.item()}

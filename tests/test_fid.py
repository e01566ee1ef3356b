"""FID / KID: the formulas on features we can compute by hand, and the missing-weights message.

The Inception-v3 weights are not on this machine, so the formula tests pass an explicit feature
network; the default path never uses anything but torch-fidelity's Inception-v3 weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import Tensor, nn

from energan.data import ImageData
from energan.errors import DataError
from energan.metrics.fid import WEIGHTS_NAME, WEIGHTS_URL, InceptionDistance, inception_weights, to_uint8_rgb


class ChannelStatistics(nn.Module):
    """Per-channel means and mean squares of uint8 RGB images: 6 features we can recompute."""

    def forward(self, images: Tensor) -> Tensor:
        x = images.double() / 255
        return torch.cat([x.mean(dim=(2, 3)), x.square().mean(dim=(2, 3))], dim=1)


def _images(n: int, shift: float, seed: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, 8, 8, generator=generator) * 1.5 - 1 + shift).clamp(-1, 1)


def _features(images: Tensor) -> np.ndarray:
    return ChannelStatistics()(to_uint8_rgb(images)).numpy()


@pytest.fixture
def real_and_fake() -> tuple[ImageData, Tensor]:
    real = _images(40, 0.0, 0)
    fake = _images(40, 0.3, 1)
    return ImageData("toy", real, test_images=real), fake


def test_fid_is_the_frechet_distance_of_the_features(real_and_fake: tuple[ImageData, Tensor]) -> None:
    data, fake = real_and_fake
    metric = InceptionDistance("fid", samples=len(fake), weights="", download=False, features=ChannelStatistics())
    value = metric.evaluate(lambda n: fake[:n], data)["fid"]
    a, b = _features(data.test_images), _features(fake)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real)
    assert value == pytest.approx(expected, rel=1e-4)
    same = metric.evaluate(lambda n: data.test_images[:n], data)["fid"]
    assert abs(same) < 1e-6


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel(real_and_fake: tuple[ImageData, Tensor]) -> None:
    data, fake = real_and_fake
    metric = InceptionDistance("kid", samples=len(fake), weights="", download=False, features=ChannelStatistics())
    values = metric.evaluate(lambda n: fake[:n], data)
    x, y = _features(data.test_images), _features(fake)
    m, d = len(x), x.shape[1]

    def kernel(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return (u @ v.T / d + 1) ** 3

    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    off_diagonal = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    expected = off_diagonal - 2 * k_xy.sum() / m**2
    # every subset holds all 40 samples, so every subset gives the same value
    assert values["kid"] == pytest.approx(expected, rel=1e-4)
    assert values["kid_std"] == pytest.approx(0.0, abs=1e-9)


def test_images_become_uint8_rgb() -> None:
    grey = torch.tensor([-1.0, 0.0, 1.0, 2.0]).reshape(1, 1, 2, 2)
    assert to_uint8_rgb(grey).tolist() == [[[[0, 128], [255, 255]]] * 3]


def test_missing_weights_say_where_energan_looked_and_how_to_fix_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ENERGAN_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(DataError) as raised:
        inception_weights("", download=False)
    message = str(raised.value)
    assert WEIGHTS_NAME in message and WEIGHTS_URL in message and str(tmp_path / "torch") in message
    assert "--set metrics.fid.weights=PATH" in message and "metrics.fid.download=true" in message and "\n" not in message
    with pytest.raises(DataError, match="--set metrics.kid.weights=PATH"):
        inception_weights("", download=False, metric="kid")
    with pytest.raises(DataError, match=f"Inception weights {tmp_path / 'nope.pth'} do not exist"):
        inception_weights(str(tmp_path / "nope.pth"), download=False)
    local = tmp_path / "mine.pth"
    local.write_bytes(b"weights")
    monkeypatch.setenv("ENERGAN_INCEPTION_WEIGHTS", str(local))
    assert inception_weights("", download=False) == local


def test_evaluate_with_fid_and_no_weights_is_a_one_line_error(cli, quick_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ENERGAN_INCEPTION_WEIGHTS", raising=False)
    code, _, err = cli("train", "--config", quick_config(steps=2), "--name", "fid-run")
    assert code == 0, err
    code, _, err = cli("evaluate", tmp_path / "runs" / "fid-run", "--metric", "fid")
    assert code == 1
    assert err.startswith("energan: error: FID/KID need torch-fidelity's Inception-v3 weights") and err.count("\n") == 1


def test_evaluate_passes_metric_parameters_and_refuses_other_keys(cli, quick_config, tmp_path: Path) -> None:
    code, _, err = cli("train", "--config", quick_config(steps=2), "--name", "kid-run")
    assert code == 0, err
    run = tmp_path / "runs" / "kid-run"
    missing = tmp_path / "no-such-weights.pth"
    code, _, err = cli("evaluate", run, "--metric", "kid", "--set", f"metrics.kid.weights={missing}")
    assert code == 1 and f"Inception weights {missing} do not exist" in err
    code, _, err = cli("evaluate", run, "--set", "metrics.kid.weights=x")  # the run itself has no metrics
    assert code == 1 and "trained without metrics; name the ones to score with --metric NAME" in err
    for bad in ("metrics.fid.weights=x", "loss.margin=2", "metrics.kid=3"):
        code, _, err = cli("evaluate", run, "--metric", "kid", "--set", bad)
        assert code == 1 and "evaluate takes metrics.NAME.KEY=VALUE for a metric it scores (kid)" in err, bad

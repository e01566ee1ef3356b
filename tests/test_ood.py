"""Outlier sets (a component kind) and the ``ood`` metric: each set by hand, the metric's numbers on
energies whose ranking is known, its bad input in one line, and the kind used from TOML, from the
command line and from a plugin, in ``energan train`` and ``energan evaluate``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from checks import PixelMean
from PIL import Image
from scipy import stats
from torch import Tensor

from energan import hookimpl, load_plugins
from energan.components import OutlierSet, RunEnergy
from energan.config import TrainConfig, resolve
from energan.data import ImageData
from energan.data.fit import fitted
from energan.errors import DataError
from energan.kinds import OUTLIER_SET
from energan.metrics.ood import OutOfDistribution
from energan.outliers import GaussianNoise, OtherDataset, OwnSamples, Transformed, UniformNoise, blurred, inverted, rotated, shifted

BUILT_IN = {"uniform", "gaussian", "samples", "inverted", "rotated", "shifted", "blurred", "dataset"}


def _draw(outlier_set: OutlierSet, heldout: Tensor, generate: Any = None) -> Tensor:
    return outlier_set.images(heldout, generate, torch.Generator().manual_seed(0))


def test_the_kind_is_registered_listed_and_a_default_of_every_config(cli) -> None:
    plugins = load_plugins()
    assert set(plugins.registries.outlier_sets.names()) >= BUILT_IN
    resolved = resolve(TrainConfig(), plugins.registries)
    assert set(resolved.tables["outliers"]) == set(OUTLIER_SET.default) == BUILT_IN - {"dataset"}
    code, out, _ = cli("plugins", "--all")
    assert code == 0
    assert "outlier_sets: [outliers.NAME] in a config, --outliers NAME" in " ".join(out.split())


def test_inverted_rotated_and_shifted_by_hand() -> None:
    image = torch.arange(16.0).view(1, 1, 4, 4)
    assert torch.equal(Transformed(inverted).images(image, None, None), -image)
    quarter = torch.tensor([[3.0, 7, 11, 15], [2, 6, 10, 14], [1, 5, 9, 13], [0, 4, 8, 12]])  # counter-clockwise
    assert torch.equal(Transformed(rotated(1)).images(image, None, None)[0, 0], quarter)
    moved = torch.tensor([[0.0, 0, 0, 0], [0, 0, 1, 2], [0, 4, 5, 6], [0, 8, 9, 10]])  # one pixel down and right, corner fills
    assert torch.equal(Transformed(shifted(0.25)).images(image, None, None)[0, 0], moved)


def test_blur_keeps_flat_images_and_spreads_a_point_as_a_gaussian() -> None:
    flat = torch.full((2, 1, 9, 9), 0.3)
    assert torch.allclose(Transformed(blurred(1.0)).images(flat, None, None), flat)
    point = torch.zeros(1, 1, 9, 9)
    point[0, 0, 4, 4] = 1.0
    spread = Transformed(blurred(1.0)).images(point, None, None)[0, 0]
    weights = [math.exp(-(k**2) / 2) for k in range(-3, 4)]  # a 7-tap kernel (±3σ), normalised
    assert spread[4, 4].item() == pytest.approx((1 / sum(weights)) ** 2, rel=1e-5)
    assert spread[4, 5].item() == pytest.approx(weights[4] / sum(weights) ** 2, rel=1e-5)
    assert spread.sum().item() == pytest.approx(1.0, rel=1e-5)


def test_uniform_noise_is_uniform_and_gaussian_noise_clipped() -> None:
    heldout = torch.zeros(50, 1, 10, 10)
    uniform = _draw(UniformNoise(), heldout).flatten().numpy()
    assert stats.kstest(uniform, "uniform", args=(-1, 2)).pvalue > 1e-3
    gaussian = _draw(GaussianNoise(0.0, 0.5), heldout).flatten().numpy()
    assert gaussian.min() == -1.0 and gaussian.max() == 1.0
    clipped = int((np.abs(gaussian) == 1.0).sum())  # |N(0, 0.5²)| ≥ 1: 2 (1 − Φ(2)) of the pixels
    assert stats.binomtest(clipped, gaussian.size, 2 * stats.norm.sf(2)).pvalue > 1e-3
    inner = gaussian[np.abs(gaussian) < 1.0]
    assert stats.kstest(inner, stats.truncnorm(-2, 2, scale=0.5).cdf).pvalue > 1e-3
    assert torch.equal(_draw(UniformNoise(), heldout), _draw(UniformNoise(), heldout))  # one seed, the same outliers


def test_other_images_are_fitted_to_the_heldout_shape() -> None:
    colour = torch.randint(0, 256, (4, 3, 6, 6), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    grey = fitted(colour.float() / 127.5 - 1, (1, 6, 6))
    for image, fitted_image in zip(colour, grey, strict=True):
        pil = np.asarray(Image.fromarray(image.permute(1, 2, 0).numpy()).convert("L"), dtype=np.float64)
        assert np.abs((fitted_image[0].numpy() + 1) * 127.5 - pil).max() <= 1.0  # PIL rounds to whole levels
    assert fitted(grey, (3, 6, 6)).shape == (4, 3, 6, 6)
    assert torch.equal(fitted(grey, (3, 6, 6))[:, 2], grey[:, 0])
    assert fitted(grey, (1, 28, 28)).shape == (4, 1, 28, 28)
    with pytest.raises(DataError, match="images of 2 channels cannot be brought to 3; valid: the same count, or 1 ↔ 3"):
        fitted(torch.zeros(1, 2, 6, 6), (3, 6, 6))


def test_another_dataset_too_small_is_one_line() -> None:
    small = ImageData(key="small", train_images=torch.zeros(5, 1, 8, 8), test_images=torch.zeros(3, 1, 8, 8))
    assert _draw(OtherDataset(small), torch.zeros(8, 1, 28, 28)).shape == (8, 1, 28, 28)
    with pytest.raises(DataError, match=r"dataset 'small' holds 8 images, fewer than the 9 held-out") as error:
        _draw(OtherDataset(small), torch.zeros(9, 1, 28, 28))
    assert "\n" not in str(error.value)


def _metric(sets: dict[str, OutlierSet], images: int = 40) -> OutOfDistribution:
    metric = OutOfDistribution(images)
    metric.attach(RunEnergy(PixelMean().train(), torch.device("cpu"), sets))
    return metric


def _dark_digits(count: int) -> ImageData:
    test = -0.2 - torch.rand(count, 1, 4, 4, generator=torch.Generator().manual_seed(2)) * 0.5  # every mean < 0
    return ImageData(key="dark", train_images=test.clone(), test_images=test)


def test_the_metric_on_energies_of_known_ranking() -> None:
    data = _dark_digits(60)
    values = _metric({"inverted": Transformed(inverted), "samples": OwnSamples()}).evaluate(
        lambda n: data.test_images[:n].clone(), data, final=True
    )
    assert values["ood_heldout_images"] == 40
    assert (values["ood_auroc_inverted"], values["ood_aupr_inverted"], values["ood_fpr95_inverted"]) == (1.0, 1.0, 0.0)
    # the samples are the held-out images themselves, so the same energies: AUROC ½ (each pair ties), AUPR
    # the outliers' share, and flagging 95 % of them flags 95 % of the held-out images
    samples = (values["ood_auroc_samples"], values["ood_aupr_samples"], values["ood_fpr95_samples"])
    assert samples == pytest.approx((0.5, 0.5, 0.95), abs=1e-12)
    assert values["ood_auroc"] == pytest.approx(0.75, abs=1e-12)


class NotANumber:
    def images(self, heldout: Tensor, generate: Any, rng: torch.Generator) -> Tensor:
        return torch.full_like(heldout, float("nan"))


class TooFew:
    def images(self, heldout: Tensor, generate: Any, rng: torch.Generator) -> Tensor:
        return heldout[:-1]


@pytest.mark.parametrize(
    ("outlier_set", "message"),
    [
        (NotANumber(), r"metric 'ood', outlier set 'bad': detection: 40 of 40 outlier energies are not finite \(the first, #0, is nan\)"),
        (TooFew(), r"outlier set 'bad' gave 39 images, fewer than the 40 held-out ones"),
    ],
)
def test_bad_outlier_sets_are_one_line(outlier_set: OutlierSet, message: str) -> None:
    data = _dark_digits(60)
    with pytest.raises(DataError, match=message) as error:
        _metric({"bad": outlier_set}).evaluate(lambda n: torch.zeros(n, 1, 4, 4), data, final=True)
    assert "\n" not in str(error.value)


def test_no_outlier_set_is_one_line() -> None:
    with pytest.raises(DataError, match="needs at least one outlier set; choose some with --outliers NAME"):
        _metric({})


class Checkerboard:
    """An outlier set of a plugin: a checkerboard of ±1 in place of every held-out image."""

    @hookimpl
    def register_outlier_sets(self, register: Any) -> None:
        def checkerboard(datasets: Any) -> OutlierSet:
            class Board:
                def images(self, heldout: Tensor, generate: Any, rng: torch.Generator) -> Tensor:
                    rows, columns = torch.meshgrid(torch.arange(heldout.shape[2]), torch.arange(heldout.shape[3]), indexing="ij")
                    board = ((rows + columns) % 2).float() * 2 - 1
                    return board.expand_as(heldout).clone()

            return Board()

        register("checkerboard", checkerboard)


def _records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_sets_from_toml_and_a_plugin_in_train(quick_config, tmp_path: Path) -> None:
    from energan.trainer import train

    plugins = load_plugins()
    plugins.manager.register(Checkerboard(), name="checkerboard-plugin")
    extra = '[metrics.ood]\nimages = 50\n\n[outliers.shifted]\nfraction = 0.5\n\n[outliers.checkerboard]\n\n[outliers.dataset]\nname = "mnist5k"\n'
    raw = TrainConfig.from_dict({**_toml(quick_config(steps=4, extra=extra)), "eval_every": 2, "name": "ood-toml"})
    run = train(raw, plugins=plugins)
    evaluations = [record for record in _records(run.directory) if "ood_auroc" in record]
    assert [record["step"] for record in evaluations] == [2, 4]
    assert {key for key in evaluations[-1] if key.startswith("ood_auroc_")} == {
        "ood_auroc_shifted",
        "ood_auroc_checkerboard",
        "ood_auroc_dataset",
    }
    saved = _toml(run.directory / "config.toml")
    assert saved["outliers"] == {"shifted": {"fraction": 0.5}, "checkerboard": {}, "dataset": {"name": "mnist5k"}}


def _toml(path: Path) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(path.read_text())


def test_flags_in_train_and_evaluate(cli, quick_config, tmp_path: Path) -> None:
    config = quick_config(steps=4)
    code, _, err = cli("train", "--config", config, "--name", "flags", "--metric", "ood", "--outliers", "inverted", "--outliers", "rotated")
    assert code == 0, err
    run = tmp_path / "runs" / "flags"
    assert set(_toml(run / "config.toml")["outliers"]) == {"inverted", "rotated"}
    assert {"ood_auroc_inverted", "ood_auroc_rotated"} <= set(_records(run)[-1])

    code, out, err = cli(
        "evaluate", run, "--metric", "ood", "--outliers", "blurred", "--set", "outliers.blurred.sigma=2", "--set", "metrics.ood.images=30"
    )
    assert code == 0, err
    assert "ood_auroc_blurred" in out and "ood_auroc_inverted" not in out
    assert _records(run)[-1]["ood_heldout_images"] == 30

    code, _, err = cli("evaluate", run, "--metric", "ood", "--set", "outliers.nope.sigma=2")
    assert code != 0
    assert (
        "evaluate takes metrics.NAME.KEY=VALUE for a metric it scores (ood) or outliers.NAME.KEY=VALUE for an outlier set (inverted, rotated)"
        in err
    )
    code, _, err = cli("evaluate", run, "--metric", "ood", "--outliers", "nope")
    assert code != 0 and "unknown outlier set 'nope'" in err

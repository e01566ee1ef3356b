"""The paper's convolutional set-ups: code and feature-map shapes, and stage errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from energan.default_plugins.autoencoder import AutoEncoderParams, build_autoencoder
from energan.errors import ConfigError
from energan.generators import dcgan_generator
from energan.nets.conv import downsamplings


def _autoencoder(side: int, **changes: object) -> nn.Module:
    params = AutoEncoderParams(**{"body": "conv", "batch_norm": True, **changes})
    return build_autoencoder(params, shape=(3, side, side))


@pytest.mark.parametrize(
    ("side", "width", "stages", "code_shape"),
    [(64, 64, 3, (256, 8, 8)), (128, 64, 4, (512, 8, 8)), (256, 32, 5, (512, 8, 8)), (32, 8, 0, (32, 4, 4))],
)
def test_spatial_code_is_the_last_feature_map(side: int, width: int, stages: int, code_shape: tuple[int, int, int]) -> None:
    energy = _autoencoder(side, width=width, stages=stages, code_dim=0)
    convs = [m for m in energy.encoder if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [width * 2**k for k in range(len(convs))]
    out = energy(torch.randn(2, 3, side, side))
    assert out.code.shape == (2, code_shape[0] * code_shape[1] * code_shape[2])
    assert out.reconstruction.shape == (2, 3, side, side) and out.energy.shape == (2,)
    assert not any(isinstance(m, nn.Linear) for m in energy.modules())


def test_linear_bottleneck_after_fewer_stages() -> None:
    energy = _autoencoder(64, width=16, stages=2, code_dim=10)
    assert energy(torch.randn(2, 3, 64, 64)).code.shape == (2, 10)
    linear = next(m for m in energy.encoder if isinstance(m, nn.Linear))
    assert linear.in_features == 32 * 16 * 16  # two stages: 64 → 16, 32 channels


def test_dcgan_generator_widths_follow_the_paper() -> None:
    generator = dcgan_generator((3, 64, 64), latent_dim=100, width=64, batch_norm=True)
    deconvs = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(d.in_channels, d.out_channels) for d in deconvs] == [(512, 256), (256, 128), (128, 64), (64, 3)]
    assert generator(torch.randn(2, 100)).shape == (2, 3, 64, 64)


def test_bad_stage_counts_and_code_sizes_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match=r"7 stride-2 stages do not fit a 64×64 image; valid: 1 to 4 \(0: down to 4×4\)"):
        _autoencoder(64, stages=7)
    with pytest.raises(ConfigError, match=r"code_dim 0 .* needs body=conv"):
        _autoencoder(64, body="timm", code_dim=0)


def test_mnist_side_halves_down_to_7() -> None:
    """28 = 7·2²: the conv bodies run on the native MNIST digits, 28 → 14 → 7 and back."""
    assert [downsamplings(side) for side in (8, 16, 28, 32, 64)] == [1, 2, 2, 3, 4]
    generator = dcgan_generator((1, 28, 28), latent_dim=64, width=16, batch_norm=True)
    deconvs = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(d.in_channels, d.out_channels) for d in deconvs] == [(32, 16), (16, 1)]
    assert generator(torch.randn(2, 64)).shape == (2, 1, 28, 28)
    energy = build_autoencoder(AutoEncoderParams(body="conv", width=8, code_dim=16), shape=(1, 28, 28))
    assert energy(torch.randn(2, 1, 28, 28)).reconstruction.shape == (2, 1, 28, 28)


@pytest.mark.parametrize("side", [4, 6, 9, 36, 44])
def test_sides_that_do_not_halve_to_4_to_7_are_clear_errors(side: int) -> None:
    with pytest.raises(ConfigError, match=rf"image side {side} is not supported by conv bodies .* valid: b·2\^k with b from 4 to 7"):
        downsamplings(side)


@pytest.mark.parametrize("choice", [("--generator", "dcgan"), ("--set", "energy.body=conv")], ids=["dcgan", "conv-energy"])
def test_conv_bodies_train_on_the_28_pixel_default_data(cli, tmp_path, choice: tuple[str, str]) -> None:
    code, out, err = cli("train", *choice, "--steps", "2", "--metric", "none", "--set", f"runs_dir={tmp_path}", "--name", "conv28")
    assert code == 0, err
    assert "finished" in out + err

"""The auto-encoder energy with a timm backbone as its encoder."""

from __future__ import annotations

import pytest
import torch

from energan.errors import ConfigError
from energan.plugins import load_plugins


@pytest.fixture(scope="module")
def autoencoder():
    return load_plugins().registries.energies.get("autoencoder")


@pytest.mark.parametrize(
    ("model", "shape"), [("resnet18", (1, 8, 8)), ("efficientnet_b0", (3, 32, 32)), ("vit_tiny_patch16_224", (3, 32, 32))]
)
def test_timm_encoder_energy_is_finite_with_gradients(autoencoder, model: str, shape: tuple[int, int, int]) -> None:
    energy = autoencoder.create({"body": "timm", "timm_model": model, "code_dim": 16}, shape=shape)
    x = torch.rand(4, *shape) * 2 - 1
    out = energy(x)
    assert out.energy.shape == (4,) and out.code.shape == (4, 16) and out.reconstruction.shape == x.shape
    out.energy.mean().backward()
    grads = [p.grad for p in energy.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert torch.allclose(out.energy, (out.reconstruction - x).square().mean(dim=(1, 2, 3)))  # D(x) = MSE


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("resnet1888", "unknown timm model 'resnet1888'"),
        ("vit_tiny_patch16_224", "cannot encode 1×8×8 images with features_only"),  # 16×16 patches
    ],
)
def test_bad_timm_models_are_one_line_errors(autoencoder, model: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        autoencoder.create({"body": "timm", "timm_model": model}, shape=(1, 8, 8))
    assert "\n" not in str(error.value)

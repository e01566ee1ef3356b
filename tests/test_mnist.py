"""The IDX reader and the mnist dataset, on small IDX files the tests write."""

from __future__ import annotations

import gzip
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mnist_files import idx_bytes, write_mnist

from energan.data.idx import read_idx
from energan.data.mnist import FILES, load_mnist
from energan.errors import DataError


@pytest.mark.parametrize(
    "array",
    [
        np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
        np.array([-3, 7, 300], dtype=np.int16),
        np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
    ],
    ids=["ubyte-3d", "short-1d", "float-2d"],
)
@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_idx_round_trip(tmp_path: Path, array: np.ndarray, gz: bool) -> None:
    path = tmp_path / "x.idx"
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    assert torch.equal(read_idx(path), torch.from_numpy(array))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x01\x02\x08\x01" + b"\x00" * 8, "not an IDX file (magic 01020801"),
        (b"", "magic empty"),
        (b"\x00\x00\x08\x01" + struct.pack(">i", 5) + b"\x00\x00", "header says shape (5,) (5 bytes) but 2 bytes follow"),
        (b"\x1f\x8b\x00\x00garbage", "corrupt gzip"),
    ],
)
def test_bad_idx_files_get_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        read_idx(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("pad", [False, True])
def test_mnist_loads_scaled_images_and_labels(tmp_path: Path, gz: bool, pad: bool) -> None:
    write_mnist(tmp_path / "MNIST" / "raw", gz=gz)  # torchvision's layout is found too
    data = load_mnist(str(tmp_path), pad=pad, download=False)
    side = 32 if pad else 28
    assert data.train_images.shape == (30, 1, side, side) and data.test_images.shape == (10, 1, side, side)
    assert data.train_images.min() >= -1 and data.train_images.max() <= 1
    assert data.train_labels.tolist() == [i % 10 for i in range(30)] and data.num_classes == 10
    if pad:
        assert (data.train_images[:, :, :2, :] == -1).all()


def test_missing_files_name_the_directory_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"no train-images-idx3-ubyte\\[.gz\\] in {tmp_path}") as error:
        load_mnist(str(tmp_path), pad=False, download=False)
    assert "data.download=true" in str(error.value)
    with pytest.raises(DataError, match="mnist needs --data-dir"):
        load_mnist(None, pad=False, download=False)


def test_mismatched_labels_are_an_error(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    (tmp_path / FILES["train_labels"]).write_bytes(idx_bytes(np.zeros(7, dtype=np.uint8)))
    with pytest.raises(DataError, match=r"train images of shape \(30, 28, 28\) do not match labels of shape \(7,\)"):
        load_mnist(str(tmp_path), pad=False, download=False)


def test_train_on_mnist_files(cli, tmp_path: Path) -> None:
    write_mnist(tmp_path / "mnist")
    code, _, err = cli(
        "train",
        "--data",
        "mnist",
        "--data-dir",
        tmp_path / "mnist",
        "--metric",
        "none",
        "--steps",
        "3",
        "--name",
        "m",
        "--set",
        f"runs_dir={tmp_path / 'runs'}",
        "--set",
        "batch_size=8",
        "--device",
        "cpu",
    )
    assert code == 0, err
    assert (tmp_path / "runs" / "m" / "checkpoints" / "last.pt").exists()


def test_train_on_mnist_without_files_is_a_one_line_error(cli, tmp_path: Path) -> None:
    code, _, err = cli("train", "--data", "mnist", "--data-dir", tmp_path, "--steps", "3", "--device", "cpu")
    assert code == 1 and f"no train-images-idx3-ubyte[.gz] in {tmp_path}" in err and err.count("\n") == 1


def test_dotted_file_names_of_repackaged_copies_are_found(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    for stem in FILES.values():
        (tmp_path / stem).rename(tmp_path / stem.replace("-idx", ".idx"))  # train-images.idx3-ubyte
    data = load_mnist(str(tmp_path), pad=False, download=False)
    assert data.train_images.shape == (30, 1, 28, 28) and data.test_labels.shape == (10,)


def test_download_flag_without_torchvision_says_what_to_do(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)  # as if torchvision were not installed
    code, _, err = cli("train", "--data", "mnist", "--data-dir", tmp_path, "--download", "--steps", "1")
    assert code == 1 and "downloading needs torchvision (pip install torchvision)" in err and str(tmp_path) in err

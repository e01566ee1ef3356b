"""Model and training state apart: a saved model samples and is evaluated without its data; the
checkpoint schema is versioned; a run resumes only on the data it was trained on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mnist_files import write_mnist
from PIL import Image

from energan.checkpoint import FORMAT, load_checkpoint
from energan.errors import CheckpointError

IS_SETTINGS = [
    "--set",
    "metrics.inception_score.samples=40",
    "--set",
    "metrics.inception_score.training_samples=40",
    "--set",
    "metrics.inception_score.splits=2",
]


@pytest.fixture
def mnist_run(tmp_path: Path, quick_config, cli) -> Path:
    """A 6-step run on MNIST IDX files in a data directory, scored by the Inception Score."""
    data_dir = tmp_path / "mnist-files"
    write_mnist(data_dir, train=60, test=20)
    code, _, err = cli(
        "train",
        "--config",
        str(quick_config(6)),
        "--data",
        "mnist",
        "--data-dir",
        str(data_dir),
        "--metric",
        "inception_score",
        *IS_SETTINGS,
        "--name",
        "saved",
    )
    assert code == 0, err
    return tmp_path / "runs" / "saved"


def test_sample_and_evaluate_need_no_data_directory(mnist_run: Path, tmp_path: Path, cli) -> None:
    shutil.rmtree(tmp_path / "mnist-files")
    code, _, err = cli("sample", str(mnist_run), "-n", "16", "-o", str(tmp_path / "grid.png"))
    assert code == 0, err
    assert Image.open(tmp_path / "grid.png").size == (8 * 30 + 2, 2 * 30 + 2)  # 28-pixel digits, 2-pixel padding
    code, _out, err = cli("evaluate", str(mnist_run), "--metric", "inception_score", *IS_SETTINGS[:2], *IS_SETTINGS[4:])
    assert code == 0, err
    last = json.loads((mnist_run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["kind"] == "evaluate" and last["step"] == 6 and 1.0 <= last["inception_score"] <= 10.0


def test_evaluate_without_data_or_cache_names_the_missing_directory(mnist_run: Path, tmp_path: Path, cli) -> None:
    shutil.rmtree(tmp_path / "mnist-files")
    from energan.metrics import classifier

    classifier._loaded.clear()
    for entry in (Path(classifier.cache_dir()) / "classifiers").glob("mnist-*"):
        entry.unlink()
    code, _, err = cli("evaluate", str(mnist_run), "--metric", "inception_score")
    assert code != 0 and "mnist-files does not exist" in err and len(err.strip().splitlines()) == 1


def test_raw_samples_and_a_latent_walk(mnist_run: Path, tmp_path: Path, cli) -> None:
    assert cli("sample", str(mnist_run), "-n", "5", "-o", str(tmp_path / "raw.npz"))[0] == 0
    assert cli("sample", str(mnist_run), "-n", "5", "-o", str(tmp_path / "raw.pt"))[0] == 0
    array = np.load(tmp_path / "raw.npz")["samples"]
    tensor = torch.load(tmp_path / "raw.pt", weights_only=True)
    assert array.shape == (5, 1, 28, 28) and np.array_equal(array, tensor.numpy())  # same seed, same samples
    assert array.min() >= -1 and array.max() <= 1
    assert cli("sample", str(mnist_run), "--interpolate", "6", "-o", str(tmp_path / "walk.png"))[0] == 0
    assert Image.open(tmp_path / "walk.png").size == (6 * 30 + 2, 8 * 30 + 2)
    code, _, err = cli("sample", str(mnist_run), "-o", str(tmp_path / "x.jpg"))
    assert code != 0 and "unknown file type '.jpg'; valid: .png, .npz, .pt" in err


def test_checkpoint_holds_model_training_state_and_data_identity(mnist_run: Path) -> None:
    saved = load_checkpoint(mnist_run)
    assert saved.step == 6 and saved.data.key.startswith("mnist-28") and saved.data.shape == (1, 28, 28)
    assert {"generator", "energy", "ema"} <= set(saved.model) and {"optimizer_g", "optimizer_d", "rng"} <= set(saved.training)


def test_a_checkpoint_of_another_format_is_refused_in_one_line(mnist_run: Path, tmp_path: Path) -> None:
    state = torch.load(mnist_run / "checkpoints" / "last.pt", weights_only=True)
    old = tmp_path / "old.pt"
    torch.save({**state, "format": 1}, old)
    with pytest.raises(CheckpointError, match=f"checkpoint {old} has format 1; this energan reads format {FORMAT} only"):
        load_checkpoint(old)


def test_resume_on_other_data_is_refused(mnist_run: Path, tmp_path: Path, cli) -> None:
    write_mnist(tmp_path / "other", train=80, test=20)
    code, _, err = cli("train", "--resume", str(mnist_run), "--steps", "8", "--set", f"data_dir={tmp_path / 'other'}")
    assert code != 0 and "the configured data" in err and "resume with the same data" in err

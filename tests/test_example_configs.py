"""Every paper set-up in examples/configs trains for 3 steps on tiny fake data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mnist_files import write_mnist
from PIL import Image

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "examples" / "configs").glob("*.toml"))


def _fake_images(directory: Path, count: int = 12) -> Path:
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(directory / f"{i}.png")
    return directory


def test_the_paper_set_ups_are_all_there() -> None:
    assert {path.stem for path in CONFIGS} >= {"mnist-grid-point", "celeba64", "lsun64", "imagenet128", "imagenet256", "grid25"}


@pytest.mark.parametrize("config", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_config_trains_three_steps_on_fake_data(cli, tmp_path: Path, config: Path) -> None:
    text = config.read_text()
    data_args: list[str] = []
    if 'name = "folder"' in text:
        data_args = ["--data-dir", _fake_images(tmp_path), "--set", "data.test_images=2"]
    elif 'name = "mnist"' in text:
        write_mnist(tmp_path, train=40, test=10)
        data_args = ["--data-dir", tmp_path]
    if 'name = "magan"' in text:  # its warm-up (two epochs) must end before the last of three steps
        data_args += ["--set", "warmup_steps=1"]
    code, out, err = cli(
        "train",
        "--config",
        config,
        *data_args,
        "--steps",
        "3",
        "--metric",
        "none",
        "--device",
        "cpu",
        "--set",
        "batch_size=4",
        "--set",
        f"runs_dir={tmp_path / 'runs'}",
        "--name",
        "three",
    )
    assert code == 0, err
    assert "finished" in out and (tmp_path / "runs" / "three" / "checkpoints" / "last.pt").exists()

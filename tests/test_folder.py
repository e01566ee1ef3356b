"""The folder dataset on PNG/JPEG files the tests write: crop, resize, discovery, errors, prefetching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from energan.data import BatchStream
from energan.data.folder import ImageFiles, find_images, load_folder
from energan.data.loader import PrefetchingStream, batch_stream
from energan.errors import DataError


def _save(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def _noise_folder(root: Path, count: int) -> Path:
    rng = np.random.default_rng(0)
    for i in range(count):
        height, width = rng.integers(20, 60, size=2)
        _save(root / f"class{i % 3}" / f"{i:03d}.{'png' if i % 2 else 'jpg'}", rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    (root / "notes.txt").write_text("not an image")
    return root


def test_center_crop_and_resize_by_hand(tmp_path: Path) -> None:
    # 60 wide × 30 high: black borders 15 px wide around a white 30 × 30 centre -> the crop is all white
    pixels = np.zeros((30, 60, 3), dtype=np.uint8)
    pixels[:, 15:45] = 255
    wide = _save(tmp_path / "wide.png", pixels)
    # a grey (one-channel) image becomes three equal channels: value 51 -> 51 / 127.5 - 1 = -0.6
    grey = _save(tmp_path / "grey.png", np.full((10, 10), 51, dtype=np.uint8))
    images = ImageFiles([wide, grey], size=32, workers=0)
    assert images.shape == (2, 3, 32, 32)
    assert torch.equal(images[0], torch.ones(3, 32, 32))
    assert torch.allclose(images[1], torch.full((3, 32, 32), -0.6), atol=1e-6)
    assert images[torch.tensor([1, 0])].shape == (2, 3, 32, 32)


def test_discovery_is_recursive_sorted_and_skips_other_files(tmp_path: Path) -> None:
    root = _noise_folder(tmp_path / "data", 9)
    found = find_images(root)
    assert len(found) == 9 and found == sorted(found) and all(p.suffix in (".png", ".jpg") for p in found)
    data = load_folder(str(root), size=32, workers=0, test_images=3)
    assert data.shape == (3, 32, 32) and len(data.train_images) == 6
    assert data.test_images.shape == (3, 3, 32, 32) and data.test_images.abs().max() <= 1.0
    assert data.key.startswith("folder-data-") and data.key.endswith("-32") and "/" not in data.key  # it names cache files


def test_folder_errors_name_the_path_and_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="reads images from --data-dir; none was given"):
        load_folder(None, 64, 0, 0)
    with pytest.raises(DataError, match=f"data directory {tmp_path / 'missing'} does not exist"):
        load_folder(str(tmp_path / "missing"), 64, 0, 0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"found 0 images \(.jpg, .jpeg, .png, .webp, .bmp\) under .*empty; need more than the 0"):
        load_folder(str(tmp_path / "empty"), 64, 0, 0)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=f"cannot read image {broken}"):
        ImageFiles([broken], 32, 0)[0]


@pytest.mark.parametrize("workers", [0, 2])
def test_prefetched_batches_equal_the_plain_stream_also_after_a_jump(tmp_path: Path, workers: int) -> None:
    images = ImageFiles(find_images(_noise_folder(tmp_path / "data", 12)), size=16, workers=workers)
    plain = BatchStream(images, batch_size=4, seed=3)
    stream = batch_stream(images, 4, 3, torch.device("cpu"))
    assert isinstance(stream, PrefetchingStream) is (workers > 0)
    for index in [0, 1, 2, 3, 7, 8, 2]:  # consecutive, then a resume-style jump, then back
        assert torch.equal(stream.batch(index), plain.batch(index))


def test_a_corrupt_file_in_a_worker_is_a_one_line_error(tmp_path: Path) -> None:
    root = _noise_folder(tmp_path / "data", 4)
    (root / "class0" / "zzz.png").write_bytes(b"garbage")
    images = ImageFiles(find_images(root), size=16, workers=1)
    stream = batch_stream(images, 5, 0, torch.device("cpu"))
    with pytest.raises(DataError) as raised:
        stream.batch(0)
    assert str(raised.value).startswith("folder: cannot read image ") and "zzz.png" in str(raised.value)
    assert "\n" not in str(raised.value)

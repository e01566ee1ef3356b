"""`energan score` on a real tiny run: each kind of input, its energies against the energy computed
directly, the CSV and .npz written, the grids of the extremes, and the one-line errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from checks import one_line, trained_quick_run
from einops import rearrange, repeat
from PIL import Image
from torch import Tensor

from energan.data.digits import load_digits
from energan.images import MIN_SIDE
from energan.metrics.energies import CHUNK, image_energies
from energan.plugins import load_plugins
from energan.rundir import open_run

TEST_DIGITS = 360  # the 8×8 digits' test split


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of the quick config (auto-encoder energy on the 8×8 digits), trained for 4 steps."""
    return trained_quick_run(tmp_path_factory.mktemp("score"), steps=4, name="tiny")


@pytest.fixture(scope="module")
def digits() -> Tensor:
    """The test digits as uint8 [N, 1, 8, 8]."""
    return ((load_digits(8).test_images + 1) * 127.5).round().to(torch.uint8)


def direct(run: Path, images: Tensor, chunk: int = CHUNK) -> np.ndarray:
    """The run's energies of ``images``, computed without the command, ``chunk`` images a forward
    (as the command's --batch: forwards of another size may round the last bit otherwise)."""
    loaded = open_run(run, load_plugins())
    return image_energies(loaded.energy, images, loaded.device, chunk).numpy()


def read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    with path.open(newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == ["id", "energy"]
    return [row[0] for row in rows[1:]], np.array([float(row[1]) for row in rows[1:]])


def grid_cells(path: Path, count: int) -> Tensor:
    """The ``count`` 8×8 images of a one-row grid PNG (each enlarged to MIN_SIDE, 2-pixel padding), as uint8 [count, 1, 8, 8]."""
    pixels = torch.from_numpy(np.array(Image.open(path).convert("L")))
    step = MIN_SIDE // 8
    cells = [pixels[2 : 2 + MIN_SIDE : step, 2 + i * (MIN_SIDE + 2) : 2 + i * (MIN_SIDE + 2) + MIN_SIDE : step] for i in range(count)]
    return rearrange(torch.stack(cells), "n h w -> n 1 h w")


def test_a_dataset_split_is_scored_into_the_default_csv_with_progress_lines(cli, run: Path, digits: Tensor) -> None:
    code, out, err = cli("score", run, "dataset:digits:test", "--batch", 32)
    assert code == 0, err
    ids, energies = read_csv(run / "scores" / "digits-test.csv")
    assert ids == [str(i) for i in range(TEST_DIGITS)]
    np.testing.assert_array_equal(energies, direct(run, load_digits(8).test_images, 32))
    assert f"scored {TEST_DIGITS}/{TEST_DIGITS} images" in err  # plain progress lines: stderr is not a terminal here
    summary = out.strip().splitlines()[-1]
    assert summary == (
        f"scored {TEST_DIGITS} images of dataset:digits:test with tiny (step 4): energy mean {energies.mean():.6g}, "
        f"min {energies.min():.6g}, max {energies.max():.6g}; wrote {run / 'scores' / 'digits-test.csv'}"
    )


def test_an_npz_of_uint8_images_with_grids_of_the_lowest_and_highest(cli, run: Path, digits: Tensor, tmp_path: Path) -> None:
    images = digits[:40]
    np.savez(tmp_path / "digits.npz", images=images[:, 0].numpy())  # [N, H, W]
    output = tmp_path / "out" / "scores.npz"
    code, out, err = cli("score", run, tmp_path / "digits.npz", "-o", output, "--lowest", 5, "--highest", 6, "--batch", 7)
    assert code == 0, err
    with np.load(output) as saved:
        assert saved["ids"].tolist() == [str(i) for i in range(40)] and saved["energies"].dtype == np.float64
        energies = saved["energies"]
    np.testing.assert_array_equal(energies, direct(run, images, 7))
    order = np.argsort(energies)
    for which, count, chosen in (("lowest", 5, order[:5]), ("highest", 6, order[::-1][:6])):
        grid = tmp_path / "out" / f"scores-{which}.png"
        assert f"to {grid}" in out
        assert Image.open(grid).size == (count * (MIN_SIDE + 2) + 2, MIN_SIDE + 4)
        assert torch.equal(grid_cells(grid, count), images[torch.from_numpy(chosen.copy())])  # the most extreme first


def test_a_pt_of_float_images_and_an_npz_array_named_by_key(cli, run: Path, digits: Tensor, tmp_path: Path) -> None:
    floats = load_digits(8).test_images[:30]
    torch.save(floats, tmp_path / "floats.pt")
    assert cli("score", run, tmp_path / "floats.pt")[0] == 0
    ids, energies = read_csv(run / "scores" / "floats.csv")
    assert ids == [str(i) for i in range(30)]
    np.testing.assert_array_equal(energies, direct(run, floats))
    rgb = repeat(digits[:30], "n 1 h w -> n 3 h w")  # grey as RGB: PIL's luma gives the grey back exactly
    np.savez(tmp_path / "two.npz", rgb=rgb.numpy(), other=np.zeros(3))
    assert cli("score", run, f"{tmp_path / 'two.npz'}:rgb", "-o", tmp_path / "rgb.csv")[0] == 0
    np.testing.assert_array_equal(read_csv(tmp_path / "rgb.csv")[1], direct(run, digits[:30]))


def test_a_folder_is_decoded_grey_skips_a_corrupt_file_and_scores_as_its_pixels(cli, run: Path, digits: Tensor, tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    (folder / "nested").mkdir(parents=True)
    for i in range(5):
        Image.fromarray(digits[i, 0].numpy(), mode="L").save(folder / f"{i}.png")
    Image.fromarray(digits[5, 0].numpy(), mode="L").save(folder / "nested" / "5.jpg", quality=70)
    colour = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(colour, mode="RGB").save(folder / "nested" / "colour.png")
    (folder / "broken.png").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable files of .*scans: broken\.png \(cannot identify image file"):
        code, _, err = cli("score", run, folder, "--batch", 2, "--highest", 7)
    assert code == 0, err
    ids, energies = read_csv(run / "scores" / "scans.csv")
    expected = ["0.png", "1.png", "2.png", "3.png", "4.png", "nested/5.jpg", "nested/colour.png"]
    assert ids == expected
    pixels = torch.stack([torch.from_numpy(np.array(Image.open(folder / name).convert("L"))) for name in expected])
    assert torch.equal(pixels[:5], digits[:5, 0])
    pixels = rearrange(pixels, "n h w -> n 1 h w")
    chunks = (pixels[0:2], pixels[2:4], pixels[4:5], pixels[5:7])  # files listed two at a time, broken.png after 4.png left out
    np.testing.assert_array_equal(energies, np.concatenate([direct(run, chunk) for chunk in chunks]))  # each file as its pixels
    assert torch.equal(grid_cells(run / "scores" / "scans-highest.png", 7), pixels[torch.from_numpy(np.argsort(energies)[::-1].copy())])


def test_non_finite_energies_are_kept_and_named_in_one_warning(cli, run: Path, tmp_path: Path) -> None:
    saved = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    saved["model"]["energy"]["decoder.0.bias"][0] = float("nan")
    torch.save(saved, tmp_path / "nan.pt")
    with pytest.warns(UserWarning, match=rf"^{TEST_DIGITS} of {TEST_DIGITS} energies are not finite \(the first, 0, is nan\)"):
        code, out, _ = cli("score", run, "dataset:digits", "--checkpoint", tmp_path / "nan.pt", "-o", tmp_path / "nan.csv")
    assert code == 0 and "energy mean nan" in out
    ids, energies = read_csv(tmp_path / "nan.csv")
    assert len(ids) == TEST_DIGITS and np.isnan(energies).all()


def write_inputs(tmp_path: Path, digits: Tensor) -> None:
    """The bad inputs of the errors test."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "unreadable").mkdir()
    (tmp_path / "unreadable" / "a.png").write_bytes(b"\x89PNG garbage")
    images = digits[:4].numpy()
    np.savez(tmp_path / "wide.npz", x=np.zeros((4, 1, 16, 16), dtype=np.uint8))
    np.savez(tmp_path / "two.npz", x=images, y=images)
    np.savez(tmp_path / "last.npz", x=rearrange(images, "n c h w -> n h w c"))
    np.savez(tmp_path / "four.npz", x=np.zeros((4, 4, 8, 8), dtype=np.uint8))
    np.savez(tmp_path / "ints.npz", x=images.astype(np.int64))
    torch.save(torch.full((4, 1, 8, 8), 255.0), tmp_path / "bright.pt")
    torch.save({"images": torch.zeros(4, 1, 8, 8)}, tmp_path / "dict.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a tensor")
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    (tmp_path / "notes.txt").write_text("hello")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("{tmp}/missing",),
            "INPUT {tmp}/missing: no such file or folder; valid: a folder of images, FILE.npz[:KEY], FILE.pt or dataset:NAME",
        ),
        (("{tmp}/notes.txt",), "unknown file type '.txt'; valid: a folder of images"),
        (("{tmp}/empty",), "folder: found no images (.jpg, .jpeg, .png, .webp, .bmp) under {tmp}/empty"),
        (("{tmp}/unreadable",), "folder: none of the 1 image files under {tmp}/unreadable could be read; first: a.png ("),
        (("dataset:nope",), "unknown dataset 'nope'"),
        (("dataset:digits:val",), "unknown split 'val'; valid: test, train"),
        (("dataset:mnist5k",), "dataset:mnist5k: images of [C, H, W] (1, 28, 28) do not fit the run's (1, 8, 8): their H × W differ"),
        (("{tmp}/wide.npz",), "images of [C, H, W] (1, 16, 16) do not fit the run's (1, 8, 8): their H × W differ (resize them to 8 × 8)"),
        (("{tmp}/last.npz",), "(8, 8, 1) do not fit the run's (1, 8, 8): their H × W differ (resize them to 8 × 8); channels last?"),
        (("{tmp}/four.npz",), "images of [C, H, W] (4, 8, 8) do not fit the run's (1, 8, 8): only 1 ↔ 3 channels convert"),
        (("{tmp}/two.npz",), "two.npz: holds 2 arrays (x, y); name one as {tmp}/two.npz:KEY"),
        (("{tmp}/two.npz:z",), "two.npz: no array 'z'; valid: x, y"),
        (("{tmp}/ints.npz",), "pixels of dtype int64; valid: uint8 (0..255) or floats in [-1, 1]"),
        (
            ("{tmp}/bright.pt",),
            "256 float pixels lie outside [-1, 1] (the first is 255); floats must be in [-1, 1]: divide 0..255 values by 127.5",
        ),
        (("{tmp}/dict.pt",), "dict.pt: holds a dict, not a tensor; valid: a tensor [N, C, H, W] or [N, H, W]"),
        (("{tmp}/garbage.pt",), "garbage.pt: not a readable .pt file"),
        (("dataset:digits", "--checkpoint", "{tmp}/bad.ckpt"), "checkpoint {tmp}/bad.ckpt is corrupt or not an energan checkpoint"),
        (
            ("dataset:digits", "--lowest", str(TEST_DIGITS + 1)),
            f"--lowest {TEST_DIGITS + 1}: the input has {TEST_DIGITS} images; valid: 1 to",
        ),
        (("dataset:digits", "--highest", "0"), "--highest 0: valid: 1 or more"),
        (("dataset:digits", "-o", "scores.txt"), "--output scores.txt: unknown file type '.txt'; valid: .csv, .npz"),
    ],
)
def test_bad_input_is_one_line(cli, run: Path, digits: Tensor, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    write_inputs(tmp_path, digits)
    code, _, err = cli("score", run, *(arg.format(tmp=tmp_path) for arg in args))
    assert code == 1 and message.format(tmp=tmp_path) in one_line(err)

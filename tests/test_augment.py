"""DiffAugment's translation: hand-computed shifts, gradients, the random shifts' range and sharding,
and a run whose energy sees translated images."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from checks import one_line

from energan.augment import Translation, augmentation, concrete_augment, translate, translation_reach, unchanged
from energan.distributed import World

IMAGE = torch.arange(1.0, 17.0).reshape(1, 1, 4, 4)  # rows [1 2 3 4], [5 6 7 8], [9 10 11 12], [13 14 15 16]


def test_a_shift_down_and_left_repeats_the_border_by_hand() -> None:
    moved = translate(IMAGE, torch.tensor([[1, -2]]))
    # down by 1: row y reads row y − 1 (row 0 repeats itself); left by 2: column x reads column x + 2
    expected = torch.tensor([[3.0, 4, 4, 4], [3, 4, 4, 4], [7, 8, 8, 8], [11, 12, 12, 12]])
    assert torch.equal(moved[0, 0], expected)


def test_each_image_takes_its_own_shift_and_zero_is_the_identity() -> None:
    images = torch.cat([IMAGE, IMAGE + 100]).repeat(1, 3, 1, 1)  # two images, three channels
    moved = translate(images, torch.tensor([[0, 0], [-1, 1]]))
    assert torch.equal(moved[0], images[0])
    up_right = torch.tensor([[105.0, 105, 106, 107], [109, 109, 110, 111], [113, 113, 114, 115], [113, 113, 114, 115]])
    assert all(torch.equal(moved[1, c], up_right) for c in range(3))


def test_translate_gradients_in_float64() -> None:
    images = torch.randn(3, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    shifts = torch.tensor([[2, -1], [0, 2], [-2, 0]])
    assert torch.autograd.gradcheck(lambda x: translate(x, shifts), (images,))


def test_shifts_cover_the_reach_and_nothing_beyond() -> None:
    translation = Translation(reach=2, rng=torch.Generator().manual_seed(0), world=World())
    # a unit impulse in the middle of a 9×9 image lands where the drawn shift puts it
    impulse = torch.zeros(4000, 1, 9, 9)
    impulse[:, :, 4, 4] = 1.0
    where = translation(impulse).flatten(1).argmax(1)
    dy, dx = where // 9 - 4, where % 9 - 4
    assert set(dy.tolist()) == set(dx.tolist()) == {-2, -1, 0, 1, 2}


def test_each_process_takes_its_rows_of_the_global_batch_shifts() -> None:
    """Under torchrun every process draws the global batch's shifts alike and keeps its own rows,
    so two processes together augment exactly as one process does."""
    images = torch.randn(8, 1, 6, 6)
    whole = Translation(1, torch.Generator().manual_seed(3), World())(images)
    parts = [Translation(1, torch.Generator().manual_seed(3), World(rank=r, size=2))(images[4 * r : 4 * r + 4]) for r in range(2)]
    assert torch.equal(torch.cat(parts), whole)


def test_reach_is_a_share_of_the_side_rounded_half_up() -> None:
    assert [translation_reach(side, 0.125) for side in (8, 28, 32, 64)] == [1, 4, 4, 8]
    assert augmentation("translation", 0.0, (1, 28, 28), torch.Generator(), World()) is unchanged
    assert augmentation("none", 0.125, (1, 28, 28), torch.Generator(), World()) is unchanged


def test_translation_of_points_is_a_one_line_error(cli, tmp_path: Path) -> None:
    code, _, err = cli(
        "train", "--data", "grid25", "--steps", "1", "--metric", "none",
        "--set", "augment=translation", "--set", f"runs_dir={tmp_path}",
    )  # fmt: skip
    assert code == 1
    assert one_line(err) == (
        "energan: error: augment_shift 0.0625 of a 1-pixel side is 0 pixels: nothing to translate (data of shape (2, 1, 1)); "
        "raise augment_shift or use augment = 'none'"
    )


def test_a_run_with_translation_trains_and_records_it(cli, quick_config, tmp_path: Path) -> None:
    path = quick_config(steps=4)
    code, _, err = cli("train", "--config", path, "--name", "shifted", "--set", "augment=translation", "--set", "augment_shift=0.25")
    assert code == 0, err
    run = tmp_path / "runs" / "shifted"
    assert 'augment = "translation"' in (run / "config.toml").read_text()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(r["loss_d"])) for r in records if r["kind"] == "train")


def test_an_unknown_augmentation_names_the_choices(cli, tmp_path: Path) -> None:
    code, _, err = cli("train", "--steps", "1", "--set", "augment=bogus", "--set", f"runs_dir={tmp_path}")
    assert code == 1
    line = one_line(err)
    assert "bogus" in line and "none" in line and "translation" in line


def test_auto_translates_images_and_leaves_points_alone() -> None:
    assert [concrete_augment("auto", 0.0625, side) for side in (1, 8, 28, 64)] == ["none", "translation", "translation", "translation"]
    assert concrete_augment("auto", 0.0625, 4) == "none"  # a quarter pixel rounds to none
    assert concrete_augment("none", 0.0625, 28) == "none" and concrete_augment("translation", 0.0, 28) == "translation"


def test_the_default_run_records_the_concrete_choice(cli, tmp_path: Path) -> None:
    """``augment = auto`` becomes translation on the digits and none on grid25's points, in config.toml."""
    for data, expected in (("digits", "translation"), ("grid25", "none")):
        code, _, err = cli(
            "train", "--data", data, "--steps", "2", "--metric", "none", "--name", data,
            "--set", "batch_size=8", "--set", "energy.size=16", "--set", "generator.size=16", "--set", f"runs_dir={tmp_path}",
        )  # fmt: skip
        assert code == 0, err
        assert f'augment = "{expected}"' in (tmp_path / data / "config.toml").read_text()


def test_a_run_saved_before_augmentation_resumes_without_it(cli, quick_config, tmp_path: Path) -> None:
    """A config.toml without ``augment`` predates it: the resumed run stays unaugmented, not ``auto``."""
    assert cli("train", "--config", quick_config(steps=4), "--name", "old")[0] == 0
    saved = tmp_path / "runs" / "old" / "config.toml"
    saved.write_text("".join(line for line in saved.read_text().splitlines(keepends=True) if not line.startswith("augment =")))
    code, _, err = cli("train", "--resume", tmp_path / "runs" / "old", "--steps", "6")
    assert code == 0, err
    assert 'augment = "none"' in saved.read_text()

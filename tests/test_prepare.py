"""A folder prepared once: equal pixels, unreadable files, a changed folder, a full disk, kill -9,
two preparations at once, an unwritable cache, and training on it."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from energan.benchmarks.photo_folders import write_photo_folder
from energan.data import BatchStream, unit_range
from energan.data import prepare as preparing
from energan.data.decode import decode_image
from energan.data.folder import ImageFiles, find_images, load_folder
from energan.data.prepare import LOCK_FILE, PROGRESS_FILE, list_folder, prepared_folder, store_directory
from energan.data.store import MANIFEST_FILE, Manifest, PreparedImages, store_bytes
from energan.errors import DataError
from energan.lock import file_lock

MODES = ("RGB", "L", "LA", "P", "CMYK", "I;16", "RGBA", "1")


def mode_folder(root: Path) -> Path:
    """One file per PIL mode (16-bit grey included), of odd sizes, as PNG or JPEG as each allows."""
    rng = np.random.default_rng(0)
    for index, mode in enumerate(MODES):
        height, width = 30 + 7 * index, 45 - 3 * index
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        if mode == "I;16":
            image = Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
        else:
            image = Image.fromarray(rgb).convert(mode)
        suffix = "jpg" if mode in ("RGB", "L", "CMYK") else "png"
        root.mkdir(parents=True, exist_ok=True)
        image.save(root / f"{index}-{mode.replace(';', '')}.{suffix}")
        assert Image.open(root / f"{index}-{mode.replace(';', '')}.{suffix}").mode == mode
    return root


def bad_files(root: Path) -> list[str]:
    """A corrupt PNG, a zero-byte JPEG, a text file named .jpg, a truncated JPEG."""
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.jpg").write_text("not an image")
    whole = root / "whole.jpg"
    Image.fromarray(np.full((64, 64, 3), 90, dtype=np.uint8)).save(whole)
    (root / "truncated.jpg").write_bytes(whole.read_bytes()[:200])
    whole.unlink()
    return ["corrupt.png", "empty.jpg", "notes.jpg", "truncated.jpg"]


def test_prepared_pixels_equal_todays_decode_in_every_pil_mode(tmp_path: Path) -> None:
    root = mode_folder(tmp_path / "modes")
    directory, manifest = prepared_folder(list_folder(root), 32, tmp_path / "cache", workers=2)
    assert manifest.files == len(MODES) and manifest.unreadable == []
    paths = find_images(root)
    store = PreparedImages(directory, 32, np.arange(len(paths)))
    decoded = ImageFiles(paths, 32, workers=0)
    everything = torch.arange(len(paths))
    assert torch.equal(store[everything], decoded[everything])  # float, bit for bit
    for index, path in enumerate(paths):
        assert np.array_equal(store.stored(index).numpy(), decode_image(str(path), 32)), path.name


def test_unreadable_files_are_skipped_listed_and_named_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "photos"
    write_photo_folder(root, "celeba", 6)
    bad = bad_files(root)
    data = load_folder(str(root), 32, workers=0, test_images=2, cache=tmp_path / "cache")
    assert len(data.train_images) == 4 and data.test_images.shape == (2, 3, 32, 32)  # 6 readable of 10
    summary = [line for line in capsys.readouterr().err.splitlines() if "skipped" in line]
    assert len(summary) == 1 and "skipped 4 unreadable files: corrupt.png (" in summary[0]
    assert all(name in summary[0] for name in bad[:3]) and "..." in summary[0]  # the first three, then ...
    manifest = Manifest.read(store_directory(tmp_path / "cache", root, 32))
    assert [failure["path"] for failure in manifest.unreadable] == bad and manifest.readable == 6
    assert "truncated" in next(failure["error"].lower() for failure in manifest.unreadable if failure["path"] == "truncated.jpg")


def test_a_folder_with_no_readable_file_is_a_one_line_error(tmp_path: Path) -> None:
    root = tmp_path / "broken"
    root.mkdir()
    bad_files(root)
    with pytest.raises(DataError, match=r"none of the 4 image files under .*broken could be read; first: corrupt.png \("):
        load_folder(str(root), 32, workers=0, test_images=0, cache=tmp_path / "cache")


def test_a_folder_that_changed_is_prepared_again_never_mixed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_photo_folder(tmp_path / "photos", "celeba", 8)
    first = load_folder(str(root), 32, workers=0, test_images=0, cache=tmp_path / "cache")
    before = first.train_images[torch.arange(8)]
    assert load_folder(str(root), 32, workers=0, test_images=0, cache=tmp_path / "cache").info == first.info  # unchanged: read
    capsys.readouterr()
    changed = find_images(root)[3]
    Image.fromarray(np.zeros((50, 50, 3), dtype=np.uint8)).save(changed)  # rewritten in place
    write_photo_folder(tmp_path / "photos", "celeba", 9)  # and one more file
    second = load_folder(str(root), 32, workers=0, test_images=0, cache=tmp_path / "cache")
    assert "changed since it was prepared at 32 px (8 files then, 9 now): preparing it again" in capsys.readouterr().err
    assert len(second.train_images) == 9 and second.info.fingerprint != first.info.fingerprint
    after = second.train_images[torch.arange(9)]
    assert torch.equal(after[3], torch.full((3, 32, 32), -1.0))
    assert torch.equal(after[[0, 1, 2, 4, 5, 6, 7]], before[[0, 1, 2, 4, 5, 6, 7]])
    assert torch.equal(first.train_images[3], before[3])  # a process still reading the old store keeps its pixels


def test_too_little_free_space_is_refused_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_photo_folder(tmp_path / "photos", "celeba", 4)
    monkeypatch.setattr(preparing, "_free_bytes", lambda directory: 1000)
    with pytest.raises(DataError, match=r"needs 49\.2 KB but .* has 1\.0 KB free; .* or set data\.prepare = false") as error:
        load_folder(str(root), 64, workers=0, test_images=0, cache=tmp_path / "cache")
    assert "\n" not in str(error.value)
    assert not (store_directory(tmp_path / "cache", root, 64) / MANIFEST_FILE).exists()


def test_a_disk_that_fills_during_the_prepare_stops_it_in_one_line_and_a_rerun_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_photo_folder(tmp_path / "photos", "celeba", 10)
    monkeypatch.setattr(preparing, "CHUNK", 3)
    real_pwrite = os.pwrite

    def fills_after_two(descriptor: int, data: bytes, offset: int) -> int:
        if offset >= 2 * 3 * store_bytes(1, 32):  # the third chunk of images
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_pwrite(descriptor, data, offset)

    monkeypatch.setattr(os, "pwrite", fills_after_two)
    with pytest.raises(DataError, match=r"writing .*images\.u8 failed: No space left on device; run it again to continue"):
        load_folder(str(root), 32, workers=0, test_images=0, cache=tmp_path / "cache")
    monkeypatch.setattr(os, "pwrite", real_pwrite)
    capsys.readouterr()
    data = load_folder(str(root), 32, workers=0, test_images=0, cache=tmp_path / "cache")
    assert "continuing (2 of 4 chunks already prepared)" in capsys.readouterr().err
    assert torch.equal(data.train_images[torch.arange(10)], ImageFiles(find_images(root), 32, 0)[torch.arange(10)])


def test_space_that_cannot_be_reserved_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_photo_folder(tmp_path / "photos", "celeba", 2)

    def no_space(descriptor: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with pytest.raises(DataError, match=r"cannot reserve 6\.1 KB for .*images\.u8: No space left on device"):
        load_folder(str(root), 32, workers=0, test_images=0, cache=tmp_path / "cache")


SLOW_PREPARE = """
import sys, time
from pathlib import Path
from energan.data import prepare
prepare.CHUNK = 2
decode = prepare._decode_chunk
prepare._decode_chunk = lambda task: (time.sleep(0.15), decode(task))[1]
prepare.prepared_folder(prepare.list_folder(Path(sys.argv[1])), 32, Path(sys.argv[2]), 0)
"""


def test_a_prepare_killed_with_sigkill_continues_where_it_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    root = write_photo_folder(tmp_path / "photos", "celeba", 40)
    cache = tmp_path / "cache"
    progress = store_directory(cache, root, 32) / PROGRESS_FILE
    child = subprocess.Popen([sys.executable, "-c", SLOW_PREPARE, root, cache], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not progress.exists() or len(progress.read_text().splitlines()) < 4):
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    monkeypatch.setattr(preparing, "CHUNK", 2)
    done = len(preparing._progress_so_far(progress.parent, list_folder(root), 32))
    assert 3 <= done < 20, "the child was killed part-way"
    capsys.readouterr()
    data = load_folder(str(root), 32, workers=0, test_images=0, cache=cache)
    assert f"continuing ({done} of 20 chunks already prepared)" in capsys.readouterr().err
    assert torch.equal(data.train_images[torch.arange(40)], ImageFiles(find_images(root), 32, 0)[torch.arange(40)])
    assert not progress.exists()


def test_a_torn_progress_line_is_redone_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    root = write_photo_folder(tmp_path / "photos", "celeba", 6)
    monkeypatch.setattr(preparing, "CHUNK", 2)
    listing = list_folder(root)
    directory = store_directory(tmp_path / "cache", root, 32)
    directory.mkdir(parents=True)
    header = json.dumps(preparing._header(listing, 32))
    (directory / PROGRESS_FILE).write_text(header + '\n{"start": 0, "unreadable": []}\n{"start": 2, "unre')
    assert set(preparing._progress_so_far(directory, listing, 32)) == {0}
    monkeypatch.setattr(preparing, "CHUNK", 3)  # another chunking: nothing of it is trusted
    assert preparing._progress_so_far(directory, listing, 32) == {}


def test_two_prepares_of_one_folder_at_once_prepare_it_once(tmp_path: Path) -> None:
    root = write_photo_folder(tmp_path / "photos", "celeba", 300)
    energan = Path(sys.executable).with_name("energan")
    command = [str(energan), "prepare", str(root), "--size", "64", "--cache", str(tmp_path / "cache"), "--workers", "1"]
    children = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [child.communicate(timeout=300) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    errors = "".join(error for _, error in outputs)
    assert errors.count("preparing 300 images") == 1 and errors.count("prepared 300 images") == 1
    assert outputs[0][0] == outputs[1][0] and "300 images of" in outputs[0][0]
    data = load_folder(str(root), 64, workers=0, test_images=0, cache=tmp_path / "cache")
    assert torch.equal(data.train_images[torch.arange(0, 300, 37)], ImageFiles(find_images(root), 64, 0)[torch.arange(0, 300, 37)])


def test_a_process_that_finds_the_store_being_prepared_waits_for_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_photo_folder(tmp_path / "photos", "celeba", 3)
    directory = store_directory(tmp_path / "cache", root, 32)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with file_lock(directory / LOCK_FILE, busy=lambda holder: None):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    threading.Timer(0.3, release.set).start()
    _, manifest = prepared_folder(list_folder(root), 32, tmp_path / "cache", workers=0)
    holder.join()
    assert f"waiting for process {os.getpid()}, which is preparing {root} at 32 px" in capsys.readouterr().err
    assert manifest.readable == 3


def test_a_prepared_store_is_read_without_writing_or_locking(tmp_path: Path) -> None:
    """A store shared read-only (another machine's, a read-only mount): no lock, no write."""
    root = write_photo_folder(tmp_path / "photos", "celeba", 3)
    load_folder(str(root), 32, workers=0, test_images=0, cache=tmp_path / "cache")
    directory = store_directory(tmp_path / "cache", root, 32)
    (directory / LOCK_FILE).unlink()
    (directory / LOCK_FILE).mkdir()  # taking the lock would now fail
    assert len(load_folder(str(root), 32, workers=0, test_images=0, cache=tmp_path / "cache").train_images) == 3


def test_a_cache_that_cannot_be_written_is_a_one_line_error(tmp_path: Path) -> None:
    root = write_photo_folder(tmp_path / "photos", "celeba", 2)
    (tmp_path / "file").write_text("a file, not a directory")
    with pytest.raises(DataError, match=r"cannot write the cache .*file.*: Not a directory; set ENERGAN_CACHE_DIR or data\.cache"):
        load_folder(str(root), 32, workers=0, test_images=0, cache=tmp_path / "file" / "cache")


def test_prepared_and_decoded_folders_give_the_same_batches_and_identity(tmp_path: Path) -> None:
    root = write_photo_folder(tmp_path / "photos", "lsun", 12)
    prepared = load_folder(str(root), 32, workers=0, test_images=3, cache=tmp_path / "cache")
    decoded = load_folder(str(root), 32, workers=0, test_images=3, prepare=False)
    assert prepared.info == decoded.info and torch.equal(prepared.test_images, decoded.test_images)
    plain, stored = BatchStream(decoded.train_images, 4, seed=5), BatchStream(prepared.train_images, 4, seed=5)
    for index in (0, 1, 2, 5, 1):
        batch = stored.batch(index)
        assert batch.dtype == torch.uint8 and torch.equal(batch, plain.batch(index))  # what the step copies to its device
        assert torch.equal(unit_range(batch), prepared.train_images[plain.indices(index)])  # and scales there


def test_energan_prepare_reports_the_store_and_refuses_bad_input(cli, tmp_path: Path) -> None:
    root = write_photo_folder(tmp_path / "photos", "celeba", 5)
    code, out, err = cli("prepare", root, "--size", "32", "--cache", tmp_path / "cache", "--workers", "0")
    assert code == 0, err
    assert out.strip() == f"5 images of {root} at 32 px in {store_directory(tmp_path / 'cache', root, 32)} (0 unreadable)"
    assert "preparing 5 images" in err and "15.4 KB on disk" in err
    assert (
        cli("prepare", tmp_path / "missing")[2]
        .strip()
        .endswith(f"data directory {tmp_path / 'missing'} does not exist or is not a directory")
    )
    (tmp_path / "none").mkdir()
    assert "found no images (.jpg, .jpeg, .png, .webp, .bmp) under" in cli("prepare", tmp_path / "none")[2]
    assert "--workers -1: valid: 0" in cli("prepare", root, "--workers", "-1")[2]
    with pytest.raises(SystemExit):
        cli("prepare", root, "--size", "48")


def test_training_on_a_prepared_folder_logs_the_wait_for_data(cli, quick_config, tmp_path: Path) -> None:
    photos = write_photo_folder(tmp_path / "photos", "celeba", 40)
    folder = ("--data", "folder", "--data-dir", photos, "--set", "data.size=32", "--set", "data.test_images=4")
    code, _, err = cli("train", "--config", quick_config(steps=4), "--name", "photos", *folder)
    assert code == 0, err
    records = [json.loads(line) for line in (tmp_path / "runs" / "photos" / "metrics.jsonl").read_text().splitlines()]
    waits = [record["data_wait"] for record in records if record["kind"] == "train"]
    assert len(waits) == 2 and all(0 < wait < 1 for wait in waits)


def test_the_progress_line_shows_the_wait_for_data_past_five_percent() -> None:
    from energan.default_plugins.progress import _stats

    logs = {"loss_d": 1.0, "loss_g": 2.0, "energy_real": 0.5, "energy_fake": 0.7, "it_per_s": 10.0}
    assert "data wait 12%" in _stats({**logs, "data_wait": 0.012})  # 12 ms of a 100 ms step
    assert "data wait" not in _stats({**logs, "data_wait": 0.004})  # 4 %
    assert "data wait" not in _stats(logs)  # a log written before data_wait existed


def test_a_prepared_copy_of_hundreds_of_gigabytes_is_announced_with_the_way_around_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_photo_folder(tmp_path / "photos", "celeba", 2)
    monkeypatch.setattr(preparing, "LARGE_BYTES", store_bytes(2, 32) - 1)  # two images stand for ImageNet at 256 px
    load_folder(str(root), 32, workers=0, test_images=0, cache=tmp_path / "cache")
    assert "; data.prepare = false would decode every image on every draw instead and write nothing" in capsys.readouterr().err

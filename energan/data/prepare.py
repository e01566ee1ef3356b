"""An image folder prepared once: decoded, cropped and resized on every core into a store.

The first time a folder is trained at a size, its files are listed (paths, sizes, mtimes) and
decoded in chunks by a pool of processes; each finished chunk is written into the preallocated
``images.u8`` and recorded in ``progress.jsonl``, so a preparation that is killed continues where
it stopped. ``manifest.json`` is written last, atomically. A lock makes processes started together
(torchrun ranks, sweep workers) prepare a folder once: the others wait, then read it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
from rich.console import Console

from energan.atomic import write_atomic
from energan.data.decode import CROP, RESAMPLING, decode_image
from energan.data.store import FORMAT, IMAGES_FILE, MANIFEST_FILE, Manifest, store_bytes
from energan.errors import DataError
from energan.lock import file_lock

PROGRESS_FILE = "progress.jsonl"
LOCK_FILE = ".lock"
CHUNK = 256  # images decoded by one task and recorded as one line of progress
SHOWN_UNREADABLE = 3  # unreadable files named in the summary line (all are in the manifest)
PLAIN_LINES = 10  # progress lines when stderr is not a terminal
LARGE_BYTES = 100 * 10**9  # a prepared copy this large (ImageNet at 256 px: 252 GB) is announced with the way around it


Task = tuple[int, list[str], int]  # a chunk's first index, its paths, the size
Decoded = tuple[int, np.ndarray, list[dict[str, Any]]]  # a chunk's first index, its pixels, its unreadable files


@dataclasses.dataclass(frozen=True)
class Listing:
    """The image files under a folder, in sorted order, and a hash of what they are."""

    root: Path
    paths: list[Path]
    digest: str  # sha256 of each file's relative path, size and mtime


def list_folder(root: Path) -> Listing:
    """Every image file under ``root`` with a hash that changes when any is added, removed,
    renamed, resized or rewritten."""
    from energan.data.folder import find_images

    paths = find_images(root)
    digest = hashlib.sha256()
    for path in paths:
        try:
            stat = path.stat()
            signature = f"{stat.st_size} {stat.st_mtime_ns}"
        except OSError:  # a dangling link: unreadable, listed all the same
            signature = "missing"
        digest.update(os.fsencode(path.relative_to(root)) + b"\0" + signature.encode() + b"\n")
    return Listing(root, paths, digest.hexdigest())


def folder_label(root: Path) -> str:
    """A file-name-safe label of a folder: its name and a hash of its full path (``celeba-3f2a9c1d0b7e``)."""
    resolved = root.resolve()
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", resolved.name)[:40] or "root"
    return f"{name}-{hashlib.sha256(os.fsencode(resolved)).hexdigest()[:12]}"


def store_directory(cache: Path, root: Path, size: int) -> Path:
    """Where ``root`` prepared at ``size`` px lives: one directory per folder and size."""
    return cache / "prepared" / f"{folder_label(root)}-{size}px"


def prepared_folder(listing: Listing, size: int, cache: Path, workers: int) -> tuple[Path, Manifest]:
    """The store of ``listing`` at ``size`` px under ``cache``: read as it is when it matches the
    folder, else prepared (again) under the store's lock. Returns its directory and manifest."""
    directory = store_directory(cache, listing.root, size)
    manifest = Manifest.read(directory)
    if manifest is not None and manifest.listing == listing.digest:
        return directory, manifest  # a shared, read-only store needs no lock and no write
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(
            f"prepare: cannot write the cache {directory.parent}: {error.strerror or error}; "
            "set ENERGAN_CACHE_DIR or data.cache (--cache) to a writable directory, or data.prepare = false"
        ) from None
    console = Console(stderr=True)

    def wait(holder: str) -> None:
        console.print(f"waiting for process {holder}, which is preparing {listing.root} at {size} px", soft_wrap=True)

    with file_lock(directory / LOCK_FILE, busy=wait):
        manifest = Manifest.read(directory)
        if manifest is not None and manifest.listing == listing.digest:
            return directory, manifest  # another process prepared it while this one waited
        if manifest is not None:
            console.print(
                f"{listing.root} changed since it was prepared at {size} px ({manifest.files} files then, "
                f"{len(listing.paths)} now): preparing it again",
                soft_wrap=True,
            )
        return directory, _prepare(listing, size, directory, workers, console)


def _prepare(listing: Listing, size: int, directory: Path, workers: int, console: Console) -> Manifest:
    """Decode every file into ``directory`` (continuing a preparation of the same listing)."""
    started = time.monotonic()
    (directory / MANIFEST_FILE).unlink(missing_ok=True)
    done = _progress_so_far(directory, listing, size)
    chunks = range(0, len(listing.paths), CHUNK)
    pending = [start for start in chunks if start not in done]
    images = directory / IMAGES_FILE
    if not done:  # a new file, never the old one rewritten: a process still reading the old store keeps its pixels
        images.unlink(missing_ok=True)
    total = store_bytes(len(listing.paths), size)
    _announce(console, listing, size, directory, total, len(chunks) - len(pending), len(chunks))
    tasks = [(start, [os.fspath(path) for path in listing.paths[start : start + CHUNK]], size) for start in pending]
    descriptor = _allocate(images, total, directory)
    try:
        with (
            _decoding(workers, tasks) as decoded,
            _progress_log(directory, listing, size, fresh=not done) as log,
            _display(console, len(listing.paths)) as advance,
        ):
            advance(sum(min(CHUNK, len(listing.paths) - start) for start in done))
            for start, pixels, failures in decoded:
                _write(descriptor, pixels, start * store_bytes(1, size), images)
                os.fdatasync(descriptor)  # the pixels are on disk before the progress says so
                done[start] = failures
                log.write(json.dumps({"start": start, "unreadable": failures}) + "\n")
                log.flush()
                os.fsync(log.fileno())
                advance(len(pixels))
    finally:
        os.close(descriptor)
    unreadable = sorted((failure for failures in done.values() for failure in failures), key=lambda failure: failure["index"])
    manifest = _manifest(listing, size, unreadable, time.monotonic() - started)
    if manifest.readable == 0:
        raise DataError(f"folder: none of the {manifest.files} image files under {listing.root} could be read; first: {_named(unreadable)}")
    write_atomic(directory / MANIFEST_FILE, lambda stream: stream.write(manifest.to_json().encode()))
    (directory / PROGRESS_FILE).unlink(missing_ok=True)
    console.print(_summary(manifest, directory), soft_wrap=True)
    return manifest


def _announce(console: Console, listing: Listing, size: int, directory: Path, total: int, done: int, chunks: int) -> None:
    """The estimate before any work: what is prepared, where, and the space it takes."""
    again = f", continuing ({done} of {chunks} chunks already prepared)" if done else ""
    large = "; data.prepare = false would decode every image on every draw instead and write nothing" if total > LARGE_BYTES else ""
    console.print(
        f"preparing {len(listing.paths):,} images of {listing.root} at {size} px into {directory}: "
        f"{_bytes_text(total)} on disk (free {_bytes_text(_free_bytes(directory))}){again}{large}",
        soft_wrap=True,
    )


def _free_bytes(directory: Path) -> int:
    return shutil.disk_usage(directory).free


def _bytes_text(count: int) -> str:
    """``count`` bytes in KB, MB, GB or TB (decimal, as disks are sold)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count / 1e3:.1f} KB"


def _allocate(images: Path, total: int, directory: Path) -> int:
    """``images.u8`` opened with all its blocks reserved up front: a disk too small fails here, in
    one line, not with a bus error hours in. Space already reserved by an earlier try counts."""
    descriptor = os.open(images, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        reserved = os.fstat(descriptor).st_blocks * 512
        needed = total - reserved
        free = _free_bytes(directory)
        if needed > free:
            raise DataError(
                f"prepare: the prepared copy needs {_bytes_text(total)} but {directory.parent} has {_bytes_text(free)} free; "
                "free some space, point data.cache (--cache) at a larger disk, or set data.prepare = false to decode every draw"
            )
        os.posix_fallocate(descriptor, 0, total)
    except OSError as error:
        os.close(descriptor)
        raise DataError(f"prepare: cannot reserve {_bytes_text(total)} for {images}: {error.strerror or error}") from None
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def _write(descriptor: int, pixels: np.ndarray, offset: int, images: Path) -> None:
    data = memoryview(np.ascontiguousarray(pixels)).cast("B")
    try:
        while data:
            written = os.pwrite(descriptor, data, offset)
            data, offset = data[written:], offset + written
    except OSError as error:
        raise DataError(f"prepare: writing {images} failed: {error.strerror or error}; run it again to continue") from None


def _progress_so_far(directory: Path, listing: Listing, size: int) -> dict[int, list[dict[str, Any]]]:
    """The chunks an earlier, interrupted preparation of this very listing finished: chunk start →
    its unreadable files. Another listing's or a torn last line's progress is not trusted."""
    try:
        lines = (directory / PROGRESS_FILE).read_text().splitlines()
    except OSError:
        return {}
    try:
        header = json.loads(lines[0]) if lines else None
    except ValueError:
        header = None
    if header != _header(listing, size):
        return {}
    done = {}
    for line in lines[1:]:
        try:
            record = json.loads(line)
            done[int(record["start"])] = list(record["unreadable"])
        except (ValueError, KeyError, TypeError):
            break  # the torn line of a killed write: everything after it is redone
    return done


def _header(listing: Listing, size: int) -> dict[str, Any]:
    return {"format": FORMAT, "listing": listing.digest, "files": len(listing.paths), "size": size, "chunk": CHUNK}


@contextlib.contextmanager
def _progress_log(directory: Path, listing: Listing, size: int, fresh: bool) -> Iterator[IO[str]]:
    """The progress file, opened for appending (started anew with its header when ``fresh``)."""
    path = directory / PROGRESS_FILE
    if fresh:
        write_atomic(path, lambda stream: stream.write((json.dumps(_header(listing, size)) + "\n").encode()))
    else:  # drop a torn last line, so that appended records start on a line of their own
        text = path.read_text()
        path.write_text(text[: text.rfind("\n") + 1])
    with path.open("a") as log:
        yield log


@contextlib.contextmanager
def _decoding(workers: int, tasks: list[Task]) -> Iterator[Iterator[Decoded]]:
    """The tasks' results, in order: decoded in this process when ``workers`` is 0, else by a pool
    of forked processes (started before any display thread, and they touch PIL alone)."""
    if workers == 0 or not tasks:
        yield map(_decode_chunk, tasks)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context) as pool:
        try:
            yield pool.map(_decode_chunk, tasks)
        except BrokenProcessPool:
            raise DataError("prepare: a decoding process died (out of memory?); run it again to continue where it stopped") from None


def _decode_chunk(task: Task) -> Decoded:
    """One chunk's pixels; an unreadable file leaves zeros in its row and is reported."""
    start, paths, size = task
    pixels = np.zeros((len(paths), 3, size, size), dtype=np.uint8)
    failures = []
    for offset, path in enumerate(paths):
        try:
            pixels[offset] = decode_image(path, size)
        except DataError as error:
            failures.append({"index": start + offset, "path": path, "error": str(error).rpartition(f"{path}: ")[2]})
    return start, pixels, failures


@contextlib.contextmanager
def _display(console: Console, total: int) -> Iterator[Any]:
    """``advance(images)`` after each chunk: a bar with images/s and the ETA on a terminal, a line
    at every tenth elsewhere."""
    if console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("preparing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("preparing", total=total, rate="")
            yield lambda count: bar.update(task, advance=count, rate=f"{bar.tasks[0].speed or 0:.0f} images/s")
        return
    yield _PlainProgress(console, total)


@dataclasses.dataclass
class _PlainProgress:
    """Progress as a line at every tenth of the images, for logs."""

    console: Console
    total: int
    started: float = dataclasses.field(default_factory=time.monotonic)
    seen: int = 0
    earlier: int | None = None  # what an earlier try prepared: not part of this one's speed

    def __call__(self, count: int) -> None:
        if self.earlier is None:
            self.earlier = count
        before, self.seen = self.seen, self.seen + count
        if self.seen * PLAIN_LINES // self.total > before * PLAIN_LINES // self.total:
            speed = (self.seen - self.earlier) / max(time.monotonic() - self.started, 1e-9)
            eta = (self.total - self.seen) / speed if speed else float("nan")
            self.console.print(f"prepared {self.seen:,}/{self.total:,} images  {speed:.0f} images/s  ETA {eta:.0f} s", soft_wrap=True)


def _manifest(listing: Listing, size: int, unreadable: list[dict[str, Any]], seconds: float) -> Manifest:
    from energan import __version__

    for failure in unreadable:
        failure["path"] = str(Path(failure["path"]).relative_to(listing.root))
    return Manifest(
        format=FORMAT,
        energan=__version__,
        root=str(listing.root.resolve()),
        listing=listing.digest,
        files=len(listing.paths),
        size=size,
        crop=CROP,
        resampling=RESAMPLING,
        unreadable=unreadable,
        seconds=round(seconds, 3),
    )


def _named(unreadable: list[dict[str, Any]]) -> str:
    """The first few unreadable files with their errors."""
    shown = ", ".join(f"{failure['path']} ({failure['error']})" for failure in unreadable[:SHOWN_UNREADABLE])
    return shown + (", ..." if len(unreadable) > SHOWN_UNREADABLE else "")


def _summary(manifest: Manifest, directory: Path) -> str:
    line = (
        f"prepared {manifest.readable:,} images of {manifest.root} at {manifest.size} px in {manifest.seconds:.1f} s "
        f"({manifest.files / max(manifest.seconds, 1e-9):.0f} images/s) into {directory}"
    )
    if manifest.unreadable:
        line += f"; skipped {len(manifest.unreadable)} unreadable files: {_named(manifest.unreadable)} (all in {directory / MANIFEST_FILE})"
    return line

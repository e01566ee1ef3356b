"""The input pipeline against the step it feeds: images/s drawn from an image folder, and images/s
the training step of each shipped image config consumes on this machine.

The folders are generated stand-ins with the real datasets' file sizes and JPEG qualities
(benchmarks/photo_folders.py), written once per session; their prepared stores are cached
beside them. Two paths draw batches of random indices:

- decode on draw (``data.prepare = false``): ``ImageFiles`` decodes, crops and resizes every
  file of the batch; on one core in this process, on all cores in DataLoader workers
  (``batch_stream`` with one worker per core);
- prepared: ``PreparedImages`` gathers the stored uint8 pixels, from a store file of 512 MiB (the
  folder's pixels repeated: a real store is far larger than the CPU's caches). It always runs in
  the training process, so "all cores" is that one process with torch's threads.

Both hand the step uint8 batches, as training does (``BatchStream.batch``); the step scales them
to [-1, 1] on its device, so that conversion is the step's work, not the loader's.

Beside them, the images/s each shipped image config's training step consumes on this machine
(batch × d_steps / step time), built as ``energan train`` builds it and fed in-memory random
images of its size. `benchmarks.report` turns ``images / median`` of each case into the "Input pipeline" tables.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture

from energan import load_plugins
from energan.assemble import training_state
from energan.config import TrainConfig, resolve
from energan.data import ImageData, LazyImages
from energan.data.folder import available_cores, load_folder
from energan.data.loader import batch_stream
from energan.data.store import IMAGES_FILE, PreparedImages
from energan.distributed import World
from energan.model import build_model
from energan.precision import Precision
from energan.step import TrainStep
from energan.sweep.families import load_family

from .photo_folders import write_photo_folder

FILES = 256  # per generated folder
STORE_BYTES = 512 * 2**20  # the prepared stores gathered from: larger than any CPU cache, still in the page cache
BATCH = 64
KINDS = ("celeba", "lsun", "imagenet")
SIZES = (64, 128, 256)
QUICK = ("celeba", 64)  # the one shape outside -m slow: the smoke run covers every path on it
DECODE_ROUNDS = 6  # a round is one batch on one core, one per worker on all cores (workers finish theirs together)
GATHER_ROUNDS = 50
STEP_ROUNDS = {"celeba64": 3, "lsun64": 3, "imagenet128": 2, "imagenet256": 2}  # about 1 s and 10-15 s a step on 2 cores


def shapes() -> list[object]:
    """(kind, size) of every folder case, all but QUICK marked slow."""
    return [
        pytest.param(kind, size, id=f"{kind}-{size}", marks=() if (kind, size) == QUICK else pytest.mark.slow)
        for kind in KINDS
        for size in SIZES
    ]


@pytest.fixture(scope="session")
def photo_folders(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``folder(kind)``: the generated folder of ``kind``, written on first use in this session."""
    root = tmp_path_factory.mktemp("photos")
    return lambda kind: write_photo_folder(root / kind, kind, FILES)


def images_of(folder: Path, size: int, prepared: bool, workers: int) -> LazyImages:
    """The training split of ``folder`` at ``size`` px, read the given way (stores cached in the folder's parent)."""
    data = load_folder(str(folder), size, workers, 0, prepare=prepared, cache=folder.parent / "cache")
    assert not isinstance(data.train_images, torch.Tensor)
    return data.train_images if not prepared else full_sized(data.train_images)


def full_sized(images: PreparedImages) -> PreparedImages:
    """The store's pixels repeated into a file of at least STORE_BYTES: a real set's store is far
    larger than the CPU's caches, and random rows of a few megabytes would be read from them."""
    copies = -(-STORE_BYTES // images.pixels.nbytes)
    directory = images.directory.with_name(images.directory.name + "-full")
    path = directory / IMAGES_FILE
    if not path.exists():
        directory.mkdir(exist_ok=True)
        with path.open("wb") as stream:
            for _ in range(copies):
                stream.write(images.pixels.tobytes())
    return PreparedImages(directory, images.size, np.arange(copies * len(images.pixels)))


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def random_batches(images: LazyImages) -> Callable[[], torch.Tensor]:
    """Each call, the batch of BATCH random indices after the last (a fixed seed, as training draws)."""
    generator = torch.Generator().manual_seed(0)
    return lambda: images.stored(torch.randint(len(images), (BATCH,), generator=generator))


def draw(benchmark: BenchmarkFixture, batches: Callable[[], object], per_round: int, rounds: int, **info: object) -> None:
    """Time rounds of ``per_round`` batches; images/s = images per round / median round."""
    benchmark.group = "input-pipeline"

    def one_round() -> None:
        for _ in range(per_round):
            batches()

    benchmark.pedantic(one_round, rounds=rounds, warmup_rounds=1)
    record(benchmark, "input-pipeline", per_round * BATCH, **info)


def record(benchmark: BenchmarkFixture, kind: str, images: int, **info: object) -> None:
    """The case's ``kind``, its ``images`` a round, images/s over the median round, and the
    machine's 1-minute load average at its end (other processes take cores from "all cores")."""
    benchmark.extra_info.update(kind=kind, images=images, load=os.getloadavg()[0], **info)
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["images_per_s"] = images / benchmark.stats.stats.median


@pytest.mark.parametrize(("kind", "size"), shapes())
def test_decode_on_draw_one_core(benchmark: BenchmarkFixture, photo_folders: Callable[[str], Path], kind: str, size: int) -> None:
    """ImageFiles decoding a batch of random files to uint8 in this process, on one thread."""
    images = images_of(photo_folders(kind), size, prepared=False, workers=0)
    with torch_threads(1):
        draw(benchmark, random_batches(images), 1, DECODE_ROUNDS, dataset=kind, size=size, path="decode", cores=1)


@pytest.mark.parametrize(("kind", "size"), shapes())
def test_decode_on_draw_all_cores(benchmark: BenchmarkFixture, photo_folders: Callable[[str], Path], kind: str, size: int) -> None:
    """The batch stream of training with one DataLoader worker per core decoding ahead."""
    cores = available_cores()
    images = images_of(photo_folders(kind), size, prepared=False, workers=cores)
    stream = batch_stream(images, BATCH, 0, torch.device("cpu"))
    counter = itertools.count()
    try:
        draw(benchmark, lambda: stream.batch(next(counter)), cores, DECODE_ROUNDS, dataset=kind, size=size, path="decode", cores=cores)
    finally:
        stream.close()


@pytest.mark.parametrize("all_cores", [False, True], ids=["one-core", "all-cores"])
@pytest.mark.parametrize(("kind", "size"), shapes())
def test_prepared(benchmark: BenchmarkFixture, photo_folders: Callable[[str], Path], kind: str, size: int, all_cores: bool) -> None:
    """PreparedImages gathering the same batches from the store, with torch on one thread or on
    every core (the gather still runs in the training process alone)."""
    images = images_of(photo_folders(kind), size, prepared=True, workers=0)
    cores = available_cores() if all_cores else 1
    with torch_threads(cores):
        draw(benchmark, random_batches(images), 1, GATHER_ROUNDS, dataset=kind, size=size, path="prepared", cores=cores)


def shipped_step(config: str) -> tuple[TrainStep, int]:
    """The training step of shipped ``config`` on the CPU, fed in-memory random images of its
    size (no warm-up: every step is a full one), and the image size."""
    plugins = load_plugins()
    raw = {**load_family(config).config, "device": "cpu", "warmup_steps": 0}
    resolved = resolve(TrainConfig.from_dict(raw), plugins.registries)
    settings, size = resolved.settings, resolved.data.params.size
    shape = (3, size, size)
    device = torch.device("cpu")
    torch.manual_seed(0)
    images = torch.rand(2 * settings.batch_size, *shape) * 2 - 1
    model = build_model(resolved, plugins.registries, shape, device)
    resolved, state = training_state(resolved, plugins, model, shape, Precision(settings.amp, device), World())
    step = TrainStep(state, ImageData(key=f"random-{size}", train_images=images), resolved.settings)
    return step, size


@pytest.mark.parametrize("config", [pytest.param(config, marks=() if config == "celeba64" else pytest.mark.slow) for config in STEP_ROUNDS])
def test_step_consumption(benchmark: BenchmarkFixture, config: str) -> None:
    """images/s the step of ``config`` consumes on this machine's CPU: batch × d_steps / step time."""
    step, size = shipped_step(config)
    settings = step.settings
    counter = itertools.count()
    benchmark.group = "input-step"
    benchmark.pedantic(lambda: step(next(counter)), rounds=STEP_ROUNDS[config], warmup_rounds=1)
    info = {"dataset": config.rstrip("0123456789"), "batch_size": settings.batch_size, "d_steps": settings.d_steps}
    record(benchmark, "input-step", settings.batch_size * settings.d_steps, config=config, size=size, cores=torch.get_num_threads(), **info)

"""The dataset classifier behind the Inception Score: shipped with energan for the embedded data,
otherwise trained once per dataset, then cached."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from torch import Tensor, nn

from energan.atomic import write_atomic
from energan.cache import cache_dir
from energan.data import DataInfo, DataSource, ImageData
from energan.errors import DataError
from energan.lock import file_lock
from energan.metrics.fit_progress import Update, fit_progress

ARCHITECTURE_VERSION = "cnn-v3"  # part of the cache key: bump it on any change to the net or its training
TRAIN_SAMPLES = 180_000  # images shown in training: 3 passes over MNIST's 60 000 ...
MAX_EPOCHS = 40  # ... and at most this many over a small dataset (mnist5k's 4 000, the 1 437 digits)
BATCH_SIZE = 128
PEAK_LR = 5e-3  # of the one-cycle schedule
# Fitted classifiers that ship in the wheel, named as their cache entries. A fit depends on the CPU and
# torch's thread count, so a classifier fitted on each machine would give each its own scale; the
# shipped one is the same ruler everywhere (docs/metrics.md).
SHIPPED_DIR = Path(__file__).parent / "references"


def make_classifier(channels: int, num_classes: int) -> nn.Module:
    """A small batch-normalised CNN for any image side ≥ 8, in channels-last layout (twice as fast on
    a CPU): pooling after the first, narrow conv keeps fitting and scoring cheap."""

    def conv(inputs: int, outputs: int) -> list[nn.Module]:
        return [nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU()]

    return nn.Sequential(
        *conv(channels, 16),
        nn.MaxPool2d(2),
        *conv(16, 32),
        nn.MaxPool2d(2),
        *conv(32, 64),
        nn.AdaptiveMaxPool2d(3),
        nn.Flatten(),
        nn.Linear(64 * 9, 128),
        nn.ReLU(),
        nn.Linear(128, num_classes),
    ).to(memory_format=torch.channels_last)


def accuracy(model: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` in eval mode, a batch at a time (MNIST's test set in one pass
    would hold gigabytes of activations)."""
    model.eval()
    with torch.no_grad():
        correct = sum(
            int((model(chunk).argmax(dim=1) == truth).sum())
            for chunk, truth in zip(images.split(batch_size), labels.split(batch_size), strict=True)
        )
    return correct / len(labels) if len(labels) else math.nan


@torch.no_grad()
def class_probabilities(classifier: nn.Module, images: Tensor, batch_size: int = 500) -> Tensor:
    """p(y|x) [N, K] of ``classifier`` (in eval mode), a batch at a time."""
    return torch.cat([classifier(chunk).softmax(dim=1) for chunk in images.split(batch_size)])


def training_epochs(images: int) -> int:
    """Passes over a training split of ``images``: TRAIN_SAMPLES images in all, at most MAX_EPOCHS passes."""
    return min(MAX_EPOCHS, math.ceil(TRAIN_SAMPLES / images))


def training_steps(images: int) -> int:
    """Updates over all the epochs (the last batch of an epoch may be smaller)."""
    return training_epochs(images) * math.ceil(images / BATCH_SIZE)


def fit_classifier(data: ImageData, seed: int = 0, progress: Update | None = None) -> nn.Module:
    """Train the classifier on the training split (Adam on a one-cycle learning rate, light shift
    augmentation); ``progress(step, epoch, training accuracy of the epoch so far)`` after each update."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = make_classifier(data.shape[0], data.num_classes).train()
        images, labels = data.train_images, data.train_labels
        optimizer = torch.optim.Adam(model.parameters(), lr=PEAK_LR)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=PEAK_LR, total_steps=training_steps(len(images)))
        step = 0
        for epoch in range(1, training_epochs(len(images)) + 1):
            correct = seen = 0
            for index in torch.randperm(len(images), generator=generator).split(BATCH_SIZE):
                shift = torch.randint(-1, 2, (2,), generator=generator).tolist()
                logits = model(torch.roll(images[index], shifts=shift, dims=(2, 3)))
                loss = F.cross_entropy(logits, labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                step += 1
                if progress is not None:
                    correct, seen = correct + int((logits.argmax(dim=1) == labels[index]).sum()), seen + len(index)
                    progress(step, epoch, correct / seen)
    return model.eval()


def _cache_path(info: DataInfo) -> Path:
    """One entry per dataset content, classifier architecture and training length."""
    recipe = f"{ARCHITECTURE_VERSION}-epochs{training_epochs(info.train_size)}-{info.fingerprint}"
    return cache_dir() / "classifiers" / f"{info.key}-{hashlib.sha256(recipe.encode()).hexdigest()[:16]}.pt"


@dataclasses.dataclass(frozen=True)
class Reference:
    """What scoring a dataset needs once: its classifier, the classifier's held-out accuracy, and
    p(y|x) of the real test images (their Inception Score is computed from these, never rescored)."""

    classifier: nn.Module
    test_accuracy: float
    test_probabilities: Tensor


_loaded: dict[Path, Reference] = {}  # one per cache entry and process


def dataset_classifier(data: DataSource) -> Reference:
    """The classifier for ``data`` with its reference values: the shipped one where energan has it,
    else the cached one, training it on first use (the only time the dataset's images are loaded)."""
    info = data.info
    if info.num_classes is None:
        raise DataError(f"dataset {info.key!r} has no labels: it cannot have an Inception Score")
    path = _cache_path(info)
    if path not in _loaded:
        seen = _identity(path)
        _loaded[path] = _load(shipped_path(info), data) or _load(path, data) or _fit_once(path, data, seen)
    return _loaded[path]


def shipped_path(info: DataInfo) -> Path:
    """Where energan's own fit of the dataset's classifier ships, if it does (mnist5k's does)."""
    return SHIPPED_DIR / _cache_path(info).name


def _fit_once(path: Path, data: DataSource, seen: tuple[int, int] | None) -> Reference:
    """Fit under the entry's lock, so that processes started together fit it once: one that finds
    another fitting waits for it, then loads the entry it wrote (``seen``: the entry before)."""
    console = Console(stderr=True)

    def wait(holder: str) -> None:
        console.print(f"waiting for process {holder}, which is fitting the Inception-Score classifier for {data.info.key}", soft_wrap=True)

    with file_lock(_lock_path(path), busy=wait):
        written = _load(path, data) if _identity(path) != seen else None  # an entry found unreadable is not read twice
        return written or _train(path, _labelled(data.load()))


def _lock_path(path: Path) -> Path:
    """The lock beside a cache entry (hidden, so that globbing the entries does not list it)."""
    return path.with_name(f".{path.name}.lock")


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file ``path`` is (inode, modification time), None when it is missing: atomic writes change it."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _labelled(data: ImageData) -> ImageData:
    if data.train_labels is None or data.num_classes is None or data.test_images is None:
        raise DataError(f"dataset {data.key!r} has no labels or no test split: it cannot have an Inception Score")
    return data


def _load(path: Path, data: DataSource) -> Reference | None:
    """The cache entry at ``path``, or None when it is missing or unreadable (then retrained)."""
    if not path.exists():
        return None
    model = make_classifier(data.info.shape[0], data.info.num_classes)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["state_dict"])
    except Exception as error:  # a corrupt cache entry is retrained, not fatal
        Console(stderr=True).print(f"[yellow]retraining classifier: cache {path} unreadable ({error!r})", soft_wrap=True)
        return None
    model.eval()
    if "test_probabilities" not in saved:  # written before the entries kept them: add them once
        saved["test_probabilities"] = class_probabilities(model, _labelled(data.load()).test_images)
        write_atomic(path, lambda stream: torch.save(saved, stream))
    return Reference(model, saved["test_accuracy"], saved["test_probabilities"])


def _train(path: Path, data: ImageData) -> Reference:
    console = Console(stderr=True)
    started = time.monotonic()
    images = len(data.train_images)
    description = f"fitting the Inception-Score classifier for {data.key}"
    with fit_progress(console, description, training_steps(images), training_epochs(images)) as progress:
        model = fit_classifier(data, progress=progress)
    state = {
        "state_dict": model.state_dict(),
        "test_accuracy": accuracy(model, data.test_images, data.test_labels),
        "test_probabilities": class_probabilities(model, data.test_images),
    }
    write_atomic(path, lambda stream: torch.save(state, stream))
    console.print(
        f"fitted the Inception-Score classifier for {data.key} in {time.monotonic() - started:.0f} s: "
        f"held-out accuracy {state['test_accuracy']:.2%}; cached in {path}",
        soft_wrap=True,
    )
    return Reference(model, state["test_accuracy"], state["test_probabilities"])

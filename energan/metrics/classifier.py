"""The dataset classifier behind the Inception Score: trained once per dataset, then cached."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from torch import Tensor, nn

from energan.atomic import write_atomic
from energan.cache import cache_dir
from energan.data import DataInfo, DataSource, ImageData
from energan.errors import DataError

ARCHITECTURE_VERSION = "cnn-v2"
MAX_EPOCHS = 40  # small datasets (the 1 437 training digits) get this many passes ...
TRAIN_STEPS = 9000  # ... large ones (MNIST's 60 000) enough passes for about this many updates
BATCH_SIZE = 64


def make_classifier(channels: int, num_classes: int) -> nn.Module:
    """A small CNN for any image side ≥ 8: two 2× poolings early keep scoring 10 000 samples cheap."""
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(256, 128),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, num_classes),
    )


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
    """Passes over the training split: MAX_EPOCHS, or fewer when TRAIN_STEPS updates need fewer."""
    return min(MAX_EPOCHS, math.ceil(TRAIN_STEPS / math.ceil(images / BATCH_SIZE)))


def fit_classifier(data: ImageData, seed: int = 0, progress: Callable[[int, int, float], None] | None = None) -> nn.Module:
    """Train the classifier on the training split (Adam, light shift augmentation);
    ``progress(epoch, epochs, last loss)`` after each epoch."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = make_classifier(data.shape[0], data.num_classes)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        images, labels = data.train_images, data.train_labels
        epochs = training_epochs(len(images))
        for epoch in range(1, epochs + 1):
            model.train()
            for index in torch.randperm(len(images), generator=generator).split(BATCH_SIZE):
                shift = torch.randint(-1, 2, (2,), generator=generator).tolist()
                batch = torch.roll(images[index], shifts=shift, dims=(2, 3))
                loss = F.cross_entropy(model(batch), labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            if progress is not None:
                progress(epoch, epochs, loss.item())
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
    """The cached classifier for ``data`` with its reference values, training it on first use (the
    only time the dataset's images are loaded)."""
    info = data.info
    if info.num_classes is None:
        raise DataError(f"dataset {info.key!r} has no labels: it cannot have an Inception Score")
    path = _cache_path(info)
    if path not in _loaded:
        _loaded[path] = _load(path, data) or _train(path, _labelled(data.load()))
    return _loaded[path]


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
        Console(stderr=True).print(f"[yellow]retraining classifier: cache {path} unreadable ({error!r})")
        return None
    model.eval()
    if "test_probabilities" not in saved:  # written before the entries kept them: add them once
        saved["test_probabilities"] = class_probabilities(model, _labelled(data.load()).test_images)
        write_atomic(path, lambda stream: torch.save(saved, stream))
    return Reference(model, saved["test_accuracy"], saved["test_probabilities"])


def _train(path: Path, data: ImageData) -> Reference:
    console = Console(stderr=True)
    console.print(f"training the {data.key} classifier for the Inception Score (once; cached in {path.parent})")
    started = time.monotonic()

    def progress(epoch: int, epochs: int, loss: float) -> None:  # about ten lines, whatever the epochs
        if epoch % max(1, epochs // 10) == 0 or epoch == epochs:
            console.print(f"  classifier epoch {epoch}/{epochs}: loss {loss:.4f}, {time.monotonic() - started:.0f} s")

    model = fit_classifier(data, progress=progress)
    state = {
        "state_dict": model.state_dict(),
        "test_accuracy": accuracy(model, data.test_images, data.test_labels),
        "test_probabilities": class_probabilities(model, data.test_images),
    }
    write_atomic(path, lambda stream: torch.save(state, stream))
    return Reference(model, state["test_accuracy"], state["test_probabilities"])

"""Observer, off unless ``--log tensorboard``: scalars, metrics and samples in ``<run>/tensorboard/``.

Training scalars go under ``train/``, metric values under ``eval/``, and at every evaluation
the picture the samples observer draws (an image grid, or for 2-D points a scatter over the
data) under ``samples``. On resume the events past the checkpoint are dropped, as in
``metrics.jsonl``. Needs the optional ``tensorboard`` package (``energan[tensorboard]``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from energan.extras import require
from energan.hookspecs import hookimpl
from energan.images import draw_samples

OPT_IN = True  # runs only when a run's ``log`` names this plugin (energan.plugins.Plugins.notifier)


def open_writer(directory: Path, start_step: int) -> Any:
    """A SummaryWriter appending to ``directory``; events after ``start_step`` are purged."""
    tensorboard = require("torch.utils.tensorboard", "tensorboard", "--log tensorboard needs the tensorboard package")
    # purge_step hides every earlier event at step >= purge_step: keep the checkpoint's own step
    return tensorboard.SummaryWriter(log_dir=str(directory), purge_step=start_step + 1)


def sample_picture(run: Any) -> Any:
    """This evaluation's samples as the samples observer draws them, an [H, W, 3] uint8 array."""
    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "samples.png"
        draw_samples(run, path)
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))


class TensorBoardLog:
    """The event writer of the run in training (one run at a time in a process); the hooks are
    called only for a run whose ``log`` setting names tensorboard."""

    def __init__(self) -> None:
        self.writer: Any = None

    def start(self, run: Any) -> None:
        self.writer = open_writer(run.files.tensorboard, run.start_step)

    def log(self, step: int, logs: dict[str, float]) -> None:
        if self.writer is not None:
            for name, value in logs.items():
                self.writer.add_scalar(f"train/{name}", value, step)

    def evaluated(self, run: Any, step: int, metrics: dict[str, float]) -> None:
        if self.writer is None:
            return
        for name, value in metrics.items():
            self.writer.add_scalar(f"eval/{name}", value, step)
        self.writer.add_image("samples", sample_picture(run), step, dataformats="HWC")

    def end(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.writer = None


LOG = TensorBoardLog()


@hookimpl
def on_train_start(run: Any) -> None:
    LOG.start(run)


@hookimpl
def on_log(run: Any, step: int, logs: dict[str, float]) -> None:
    LOG.log(step, logs)


@hookimpl
def on_evaluate(run: Any, step: int, metrics: dict[str, float]) -> None:
    LOG.evaluated(run, step, metrics)


@hookimpl
def on_train_end(run: Any) -> None:
    LOG.end()

"""``energan score``: a saved run's energy s(x) of every image of a folder, a tensor file or a
dataset split, written with each image's id (CSV or ``.npz``), with grids of the lowest and highest."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from rich.console import Console

OUTPUTS = (".csv", ".npz")
BATCH_VALUES = 256 * 3 * 64 * 64  # pixel values of one forward by default: 256 images up to 64 px RGB, fewer above
PROGRESS_CHUNKS = 4  # inputs of more chunks than this show their progress
PLAIN_LINES = 10  # progress lines when stderr is not a terminal


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "score",
        help="write a run's energy of every image of a folder, a tensor file or a dataset (CSV or .npz), to rank them",
        description=(
            "Compute the run's energy s(x) of every image of INPUT (low energy: like the training data; high: unusual) "
            "and write it with each image's id, in input order. Images are brought to the run's [C, H, W]: files are "
            "centre-cropped and resized to its size, grey and RGB converted to its channels."
        ),
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN", help="run directory, e.g. runs/NAME")
    parser.add_argument(
        "input",
        metavar="INPUT",
        help="a folder of images (searched at any depth; unreadable files are skipped), FILE.npz[:KEY] or FILE.pt holding "
        "images [N, C, H, W] or [N, H, W] (uint8 0..255 or floats in [-1, 1]; name the .npz array when it has several), "
        "or dataset:NAME[:train|test] (default test)",
    )
    parser.add_argument("--checkpoint", default="last", help="last, best or a checkpoint path")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="FILE.csv (columns id,energy) or FILE.npz (arrays ids, energies); default RUN/scores/INPUT-NAME.csv; "
        "ids are paths relative to the folder, else indices",
    )
    parser.add_argument(
        "--lowest", type=int, metavar="K", help="also write a grid of the K lowest-energy images, lowest first, as OUTPUT-STEM-lowest.png"
    )
    parser.add_argument(
        "--highest",
        type=int,
        metavar="K",
        help="also write a grid of the K highest-energy images, highest first, as OUTPUT-STEM-highest.png",
    )
    parser.add_argument(
        "--batch", type=int, metavar="N", help="images per forward and per decoded chunk (default 256; fewer for images over 64 px RGB)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from rich.console import Console

    from energan.data import unit_range
    from energan.errors import ConfigError
    from energan.images import save_grid
    from energan.metrics.energies import image_energies
    from energan.rundir import open_run
    from energan.score_inputs import read_input

    if args.output is not None and args.output.suffix.lower() not in OUTPUTS:
        raise ConfigError(f"--output {args.output}: unknown file type {args.output.suffix or '(none)'!r}; valid: {', '.join(OUTPUTS)}")
    for flag, value in (("--lowest", args.lowest), ("--highest", args.highest), ("--batch", args.batch)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} {value}: valid: 1 or more")
    loaded = open_run(args.run_dir, args.loaded_plugins, args.checkpoint)
    images = read_input(args.input, loaded, args.loaded_plugins)
    check_extremes(args, len(images))
    batch = args.batch or default_batch(loaded.data.shape)
    output = args.output or loaded.files.scores / f"{images.name}.csv"
    ids: list[str] = []
    energies = []
    with progress(Console(stderr=True), len(images), batch) as show:
        for number, (chunk_ids, chunk) in enumerate(images.chunks(batch), 1):
            energies.append(image_energies(loaded.energy, chunk, loaded.device, batch))
            ids.extend(chunk_ids)
            show(min(number * batch, len(images)))
    scores = torch.cat(energies).numpy()
    check_extremes(args, len(scores))
    warn_not_finite(ids, scores)
    write_scores(output, ids, scores)
    order = np.argsort(scores, kind="stable")  # NaN last
    for which, count in (("lowest", args.lowest), ("highest", args.highest)):
        if count:
            path = output.with_name(f"{output.stem}-{which}.png")
            chosen = order[:count] if which == "lowest" else order[::-1][:count]  # the most extreme first
            save_grid(unit_range(images.pick([ids[i] for i in chosen])), path)
            print(f"wrote the {count} {which}-energy images, {which} first, to {path}")
    print(
        f"scored {len(scores):,} images of {args.input} with {loaded.name} (step {loaded.step}): energy mean {scores.mean():.6g}, "
        f"min {scores.min():.6g}, max {scores.max():.6g}; wrote {output}"
    )
    return 0


def default_batch(shape: tuple[int, int, int]) -> int:
    """Images per forward: 256 (the chunk of :func:`~energan.metrics.energies.image_energies`),
    fewer where a batch would hold more than ``BATCH_VALUES`` pixel values."""
    import math

    from energan.metrics.energies import CHUNK

    return max(1, min(CHUNK, BATCH_VALUES // math.prod(shape)))


def check_extremes(args: argparse.Namespace, count: int) -> None:
    """``--lowest`` and ``--highest`` ask for at most the ``count`` images scored."""
    from energan.errors import ConfigError

    for flag, value in (("--lowest", args.lowest), ("--highest", args.highest)):
        if value is not None and value > count:
            raise ConfigError(f"{flag} {value}: the input has {count} images; valid: 1 to {count}")


def warn_not_finite(ids: list[str], energies: np.ndarray) -> None:
    """One warning naming how many energies are NaN or infinite, and the first; they stay in the output."""
    import warnings

    import numpy as np

    bad = np.flatnonzero(~np.isfinite(energies))
    if len(bad):
        warnings.warn(
            f"{len(bad)} of {len(energies)} energies are not finite (the first, {ids[bad[0]]}, is {energies[bad[0]]}); written as they are",
            stacklevel=2,
        )


def write_scores(path: Path, ids: list[str], energies: np.ndarray) -> None:
    """``id,energy`` rows with each energy's repr (CSV), or arrays ``ids`` and ``energies`` (``.npz``), written atomically."""
    import csv
    import io

    import numpy as np

    from energan.atomic import write_atomic

    if path.suffix.lower() == ".npz":
        write_atomic(path, lambda stream: np.savez_compressed(stream, ids=np.asarray(ids, dtype=str), energies=energies))
        return
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("id", "energy"))
    writer.writerows(zip(ids, map(repr, energies.tolist()), strict=True))
    write_atomic(path, lambda stream: stream.write(text.getvalue().encode()))


@contextlib.contextmanager
def progress(console: Console, total: int, batch: int) -> Iterator[Callable[[int], None]]:
    """Yield ``show(done)``, to call after each chunk: a bar with the ETA on a terminal, a line at
    every tenth elsewhere; nothing for an input of a few chunks."""
    if total <= PROGRESS_CHUNKS * batch:
        yield lambda done: None
        return
    if console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        with Progress(
            TextColumn("scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("scoring", total=total)
            yield lambda done: bar.update(task, completed=done)
        return
    before = 0

    def show(done: int) -> None:
        nonlocal before
        if done * PLAIN_LINES // total > before * PLAIN_LINES // total:
            console.print(f"scored {done:,}/{total:,} images", soft_wrap=True)
        before = done

    yield show

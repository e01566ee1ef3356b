"""``energan sample``: a grid of samples, the raw samples or a latent walk from a saved model
(no training data needed)."""

from __future__ import annotations

import argparse
from pathlib import Path

RAW_FORMATS = (".npz", ".pt")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("sample", help="write samples from a run: a PNG grid, raw .npz/.pt, or a latent walk")
    parser.add_argument("run_dir", type=Path, metavar="RUN", help="run directory, e.g. runs/NAME")
    parser.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("samples.png"),
        help="file to write: .png (a grid), .npz or .pt (the raw samples in [-1, 1], shape [N, C, H, W])",
    )
    parser.add_argument("--checkpoint", default="last", help="last, best or a checkpoint path")
    parser.add_argument("--seed", type=int, help="seed of z (default: the run's sample seed)")
    parser.add_argument(
        "--interpolate",
        type=int,
        metavar="STEPS",
        help="write a latent walk instead: 8 rows, each STEPS images from one random z to another",
    )
    parser.set_defaults(handler=run)


BYTES_PER_VALUE = 16  # a float32 image value, its generator activations and the written copy, roughly


def check_fits_in_memory(n: int, shape: tuple[int, ...]) -> None:
    """-n samples of ``shape`` must fit in this machine's available memory."""
    import math
    import os

    from energan.errors import ConfigError

    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    per_sample = math.prod(shape) * BYTES_PER_VALUE
    if n * per_sample > available:
        raise ConfigError(
            f"-n {n}: about {n * per_sample / 2**30:.0f} GiB of samples, more than the {available / 2**30:.1f} GiB of memory "
            f"available; at most {available // per_sample} at once here"
        )


def run(args: argparse.Namespace) -> int:
    from energan.errors import ConfigError
    from energan.images import save_grid
    from energan.rundir import open_run
    from energan.streams import Stream, stream_seed

    suffix = args.output.suffix.lower()
    if suffix not in (".png", *RAW_FORMATS):
        raise ConfigError(f"--output {args.output}: unknown file type {suffix or '(none)'!r}; valid: .png, .npz, .pt")
    if args.n < 1:
        raise ConfigError(f"-n {args.n}: the number of samples must be at least 1")
    if args.interpolate is not None and (args.interpolate < 2 or suffix != ".png"):
        raise ConfigError(f"--interpolate {args.interpolate}: needs at least 2 steps and a .png output")
    loaded = open_run(args.run_dir, args.loaded_plugins, args.checkpoint)
    check_fits_in_memory(args.n, loaded.data.shape)
    seed = stream_seed(loaded.config.settings.seed, Stream.SAMPLES) if args.seed is None else args.seed
    if args.interpolate is not None:
        save_grid(loaded.model.latent_walk(8, args.interpolate, seed), args.output, columns=args.interpolate)
        print(f"wrote a latent walk (8 × {args.interpolate}) from {args.run_dir} (step {loaded.step}) to {args.output}")
        return 0
    samples = loaded.model.sample(args.n, seed)
    if suffix == ".png":
        save_grid(samples, args.output)
    else:
        save_raw(samples, args.output)
    print(f"wrote {args.n} samples from {args.run_dir} (step {loaded.step}) to {args.output}")
    return 0


def save_raw(samples, path: Path) -> None:
    """The samples as ``.npz`` (array ``samples``) or ``.pt`` (a tensor), written atomically."""
    import numpy as np
    import torch

    from energan.atomic import write_atomic

    if path.suffix.lower() == ".npz":
        write_atomic(path, lambda stream: np.savez_compressed(stream, samples=samples.numpy()))
    else:
        write_atomic(path, lambda stream: torch.save(samples, stream))

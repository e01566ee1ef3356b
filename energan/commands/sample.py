"""``energan sample``: a grid of samples from a run's generator."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("sample", help="write a grid of samples from a run")
    parser.add_argument("run_dir", type=Path, metavar="RUN", help="run directory, e.g. runs/NAME")
    parser.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    parser.add_argument("-o", "--output", type=Path, default=Path("samples.png"), help="PNG file to write")
    parser.add_argument("--checkpoint", default="last", help="last, best or a checkpoint path")
    parser.add_argument("--seed", type=int, help="seed of z (default: the run's sample seed)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from energan.default_plugins.samples import save_grid
    from energan.errors import ConfigError
    from energan.restore import open_run

    if args.n < 1:
        raise ConfigError(f"-n {args.n}: the number of samples must be at least 1")
    loaded, _ = open_run(args.run_dir, args.loaded_plugins, args.checkpoint)
    save_grid(loaded.sample(args.n, seed=args.seed), args.output)
    print(f"wrote {args.n} samples from {args.run_dir} (step {loaded.step}) to {args.output}")
    return 0

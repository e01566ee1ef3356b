"""``energan sweep``: the paper's grid searches on Optuna, one training run per grid point."""

from __future__ import annotations

import argparse
import dataclasses
import os

from energan.commands import add_set_option


def add_parser(commands: argparse._SubParsersAction) -> None:
    from energan.sweep.families import SweepSpec
    from energan.sweep.grids import NAMED_GRIDS

    spec = {field.name: field.default for field in dataclasses.fields(SweepSpec)}  # one place for the defaults

    parser = commands.add_parser(
        "sweep",
        help="run a grid of trainings (the paper's MNIST grids) on an Optuna storage",
        description=(
            "Train every point of a grid for each family and score it with a metric (default: the dataset's "
            "Inception Score). "
            "Several machines share a sweep by running the same command with the same --storage URL. "
            "A stopped or killed sweep continues where it was when the command is run again."
        ),
    )
    parser.add_argument("--grid", default="paper-mnist", help=f"{', '.join(NAMED_GRIDS)} or a TOML grid file (docs/sweep.md)")
    parser.add_argument(
        "--family",
        action="append",
        required=True,
        help="a shipped config by name (ebgan, ebgan-pt, gan, began, magan, celeba64, ...: docs/family.md) or a .toml "
        "config file; every point starts from it and the reports name it; repeatable",
    )
    parser.add_argument("--data", default=spec["data"], help=f"dataset name (default {spec['data']}, embedded; digits, mnist, ...)")
    parser.add_argument("--data-dir", default=spec["data_dir"], help="directory holding the dataset's files")
    parser.add_argument("--steps", type=int, default=spec["steps"], help=f"generator steps per point (default {spec['steps']})")
    parser.add_argument("--seed", type=int, default=spec["seed"], help=f"seed of every point (default {spec['seed']})")
    add_set_option(parser, "fixed setting for every point: batch_size=32, reg.pullaway.weight=0.2")
    parser.add_argument(
        "--objective",
        default=spec["objective"],
        help=f"metric each point is scored by (default {spec['objective']}); its direction decides the best point",
    )
    parser.add_argument("--study", help="sweep name in the storage (default <grid>-<data>-<steps>)")
    parser.add_argument("--storage", help="Optuna RDB URL (default sqlite:///<runs-dir>/sweeps/sweeps.db)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes on this machine (default 1)")
    parser.add_argument("--threads", type=int, help="torch threads per worker (default: cores ÷ workers)")
    parser.add_argument(
        "--heartbeat",
        type=int,
        default=30,
        help="seconds between a worker's liveness signals; a point silent for 3× this is re-run (default 30)",
    )
    parser.add_argument("--runs-dir", default="runs", help="where point runs and the default storage live")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from energan.errors import ConfigError
    from energan.extras import require
    from energan.sweep.families import SweepSpec, check_family_knobs, load_family, prepare_scoring, unique_families, validate
    from energan.sweep.grids import load_grid
    from energan.sweep.launch import launch

    require("optuna", "sweep", "energan sweep needs Optuna")

    limits = (
        ("--workers", args.workers, 1),
        ("--steps", args.steps, 1),
        ("--heartbeat", args.heartbeat, 1),
        ("--threads", args.threads, 1),
    )
    for name, value, low in limits:
        if value is not None and value < low:
            raise ConfigError(f"{name} {value}: must be ≥ {low}")
    grid = load_grid(args.grid)
    families = unique_families([load_family(family) for family in args.family])
    check_family_knobs(grid, families)
    metric = args.loaded_plugins.registries.metrics.get(args.objective).create({})
    specs = [
        SweepSpec(
            grid,
            family,
            args.data,
            args.data_dir,
            args.steps,
            args.seed,
            tuple(args.overrides),
            args.objective,
            bool(metric.higher_is_better),
        )
        for family in families
    ]
    for spec in specs:
        validate(spec, args.loaded_plugins.registries)
    sweep = args.study or f"{grid.name}-{args.data}-{args.steps}"
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
    return launch(
        specs,
        sweep=sweep,
        storage=args.storage,
        workers=args.workers,
        threads=threads,
        heartbeat=args.heartbeat,
        runs_dir=args.runs_dir,
        plugins=tuple(args.plugins),
        prepare=lambda: prepare_scoring(specs[0], args.loaded_plugins),  # every family trains on the same data
    )

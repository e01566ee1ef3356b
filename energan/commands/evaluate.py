"""``energan evaluate``: score a run's generator with its metrics."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("evaluate", help="score a run with its metrics (Inception Score, ...)")
    parser.add_argument("run_dir", type=Path, metavar="RUN", help="run directory, e.g. runs/NAME")
    parser.add_argument("--checkpoint", default="last", help="last, best or a checkpoint path")
    parser.add_argument(
        "--metric", action="append", metavar="NAME",
        help="score with this metric (default parameters) instead of the run's own; repeatable",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from energan.restore import open_run

    loaded, metrics = open_run(args.run_dir, args.loaded_plugins, args.checkpoint)
    if args.metric:
        registry = args.loaded_plugins.registries.metrics
        metrics = {name: registry.get(name).build({}) for name in args.metric}
    values: dict[str, float] = {}
    for metric in metrics.values():
        values.update(metric.evaluate(loaded.sample, loaded.data))
    table = Table(title=f"{loaded.name} at step {loaded.step} ({args.checkpoint})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in values.items():
        table.add_row(key, f"{value:.4f}")
    Console().print(table)
    record = {"step": loaded.step, "time": time.time(), "kind": "evaluate", "checkpoint": args.checkpoint, **values}
    with (args.run_dir / "metrics.jsonl").open("a") as stream:
        stream.write(json.dumps(record) + "\n")
    return 0

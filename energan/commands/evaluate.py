"""``energan evaluate``: score a run's generator with its metrics."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from energan.commands import add_set_option

if TYPE_CHECKING:
    from energan.config import Resolved


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("evaluate", help="score a run with its metrics (Inception Score, ...)")
    parser.add_argument("run_dir", type=Path, metavar="RUN", help="run directory, e.g. runs/NAME")
    parser.add_argument("--checkpoint", default="last", help="last, best or a checkpoint path")
    parser.add_argument(
        "--metric",
        action="append",
        metavar="NAME",
        help="score with this metric (default parameters) instead of the run's own; repeatable",
    )
    add_set_option(
        parser, "a metric parameter: metrics.fid.samples=20000, metrics.inception_score.samples=5000", metavar="metrics.NAME.KEY=VALUE"
    )
    parser.set_defaults(handler=run)


def _chosen_metrics(args: argparse.Namespace, run_metrics: Mapping[str, Resolved]) -> dict[str, dict]:
    """Parameters of each metric to score: the run's own (or defaults for --metric), then --set."""
    from energan.config import apply_overrides
    from energan.errors import ConfigError
    from energan.kinds import METRIC

    chosen = {name: {} for name in args.metric} if args.metric else {name: dict(v.values) for name, v in run_metrics.items()}
    if not chosen:
        raise ConfigError("the run was trained without metrics; name the ones to score with --metric NAME")
    for item in args.overrides:
        parts = item.partition("=")[0].strip().split(".")
        if len(parts) != 3 or parts[0] != METRIC.key or parts[1] not in chosen:
            raise ConfigError(f"--set {item!r}: evaluate takes metrics.NAME.KEY=VALUE for a metric it scores ({', '.join(chosen)})")
    return apply_overrides({METRIC.key: chosen}, args.overrides)[METRIC.key]


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from energan.config import Resolved
    from energan.kinds import METRIC
    from energan.metrics.scoring import build_metrics, evaluate
    from energan.rundir import open_run
    from energan.status import RunStatus

    plugins = args.loaded_plugins
    loaded = open_run(args.run_dir, plugins, args.checkpoint)
    chosen = _chosen_metrics(args, loaded.config.metrics)
    registry = plugins.registries[METRIC]
    metrics = build_metrics({name: Resolved.of(registry.get(name), values) for name, values in chosen.items()}, plugins.registries)
    loaded.status = RunStatus.EVALUATING
    loaded.metrics = evaluate(metrics, loaded.sample, loaded.data, final=True)
    plugins.notify("on_evaluate", run=loaded, step=loaded.step, metrics=loaded.metrics)  # metrics.jsonl, ...
    table = Table(title=f"{loaded.name} at step {loaded.step} ({args.checkpoint})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in loaded.metrics.items():
        table.add_row(key, f"{value:.4f}")
    Console().print(table)
    return 0

"""``energan evaluate``: score a run with its metrics: its generator's samples, or its energy (``--metric ood``)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from energan.commands import add_set_option

if TYPE_CHECKING:
    from energan.config import ResolvedConfig


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate", help="score a run with its metrics (Inception Score, ..., or its energy as a detector: --metric ood)"
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN", help="run directory, e.g. runs/NAME")
    parser.add_argument("--checkpoint", default="last", help="last, best or a checkpoint path")
    parser.add_argument(
        "--metric",
        action="append",
        metavar="NAME",
        help="score with this metric (default parameters) instead of the run's own; repeatable",
    )
    parser.add_argument(
        "--outliers",
        action="append",
        metavar="NAME",
        help="an outlier set for --metric ood (uniform, gaussian, samples, inverted, rotated, shifted, blurred, dataset, or a "
        "plugin's) instead of the run's own; repeatable",
    )
    add_set_option(
        parser,
        "a metric or outlier-set parameter: metrics.fid.samples=20000, outliers.dataset.name=digits",
        metavar="metrics.NAME.KEY=VALUE",
    )
    parser.set_defaults(handler=run)


def _chosen(args: argparse.Namespace, run_config: ResolvedConfig) -> dict[str, dict[str, dict]]:
    """Parameters of each metric and outlier set to score with, by config key: the run's own (or
    defaults for those --metric and --outliers name), then --set."""
    from energan.config import apply_overrides
    from energan.errors import ConfigError
    from energan.kinds import METRIC, OUTLIER_SET

    named = {METRIC.key: args.metric, OUTLIER_SET.key: args.outliers}
    chosen = {
        key: {name: {} for name in names} if names else {name: dict(v.values) for name, v in run_config.tables[key].items()}
        for key, names in named.items()
    }
    if not chosen[METRIC.key]:
        raise ConfigError("the run was trained without metrics; name the ones to score with --metric NAME")
    for item in args.overrides:
        parts = item.partition("=")[0].strip().split(".")
        if len(parts) != 3 or parts[0] not in chosen or parts[1] not in chosen[parts[0]]:
            metrics, sets = (", ".join(chosen[kind.key]) for kind in (METRIC, OUTLIER_SET))
            raise ConfigError(
                f"--set {item!r}: evaluate takes metrics.NAME.KEY=VALUE for a metric it scores ({metrics}) "
                f"or outliers.NAME.KEY=VALUE for an outlier set ({sets or 'none'})"
            )
    return apply_overrides(chosen, args.overrides)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from energan.assemble import build_outlier_sets
    from energan.config import Resolved
    from energan.kinds import METRIC, OUTLIER_SET
    from energan.metrics.scoring import attach_energy, build_metrics, evaluate
    from energan.rundir import open_run
    from energan.status import RunStatus

    plugins = args.loaded_plugins
    loaded = open_run(args.run_dir, plugins, args.checkpoint)
    chosen = _chosen(args, loaded.config)
    tables = {
        kind.key: {name: Resolved.of(plugins.registries[kind].get(name), values) for name, values in chosen[kind.key].items()}
        for kind in (METRIC, OUTLIER_SET)
    }
    metrics = build_metrics(tables[METRIC.key], plugins.registries)
    config = dataclasses.replace(loaded.config, tables={**loaded.config.tables, **tables})
    attach_energy(metrics, loaded.model.energy, loaded.device, lambda: build_outlier_sets(config, plugins))
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

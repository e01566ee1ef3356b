"""``energan lab``: what a separable loss really learns, for two known densities P and Q."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from energan.commands import add_set_option

DEFAULT_P = "normal(0, 1)"
DEFAULT_Q = "normal(1, 1.5)"
PIPED_WIDTH = 160


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "lab",
        help="the optimal discrepancy s* of a loss for known P, Q: closed form vs numeric vs learned",
        description="Solve a separable loss's inner loop for known densities P (real) and Q (fake) "
        "pointwise and by training an MLP on samples, compare with the closed form, and scan the "
        "outer loop E_Q f(s*) over shifts Q_θ = P(· − θ).",
    )
    parser.add_argument("--loss", default="margin", help="any registered separable loss (default margin)")
    add_set_option(parser, "a loss parameter, e.g. --set margin=0.5 (repeatable)")
    parser.add_argument("--p", default=DEFAULT_P, metavar="SPEC", help=f"the real density (default {DEFAULT_P!r})")
    parser.add_argument("--q", default=DEFAULT_Q, metavar="SPEC", help=f"the fake density (default {DEFAULT_Q!r})")
    parser.add_argument("-o", "--output", type=Path, default=Path("lab.png"), help="figure file (.png, .pdf, .svg)")
    parser.add_argument("--resolution", type=int, help="grid points per axis (default 801 in 1-D, 161 in 2-D)")
    parser.add_argument("--learn-steps", type=int, default=3000, help="MLP training steps; 0 skips it (default 3000)")
    parser.add_argument("--theta-max", type=float, default=4.0, help="outer loop scans θ in [−T, T] (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the learned estimate")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON instead of tables")
    parser.set_defaults(handler=run)


def _overrides(items: list[str]) -> dict[str, str]:
    from energan.errors import ConfigError

    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set margin=0.5")
        values[key.strip()] = value.strip()
    return values


def _check(args: argparse.Namespace) -> None:
    import math

    from matplotlib.backend_bases import FigureCanvasBase

    from energan.errors import ConfigError

    if args.resolution is not None and args.resolution < 16:
        raise ConfigError(f"--resolution {args.resolution}: need at least 16 grid points per axis")
    if args.learn_steps < 0:
        raise ConfigError(f"--learn-steps {args.learn_steps}: must be ≥ 0 (0 skips the learned estimate)")
    if not (math.isfinite(args.theta_max) and args.theta_max > 0):
        raise ConfigError(f"--theta-max {args.theta_max}: must be a finite number > 0")
    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = args.output.suffix.lstrip(".").lower()
    if suffix not in formats:
        raise ConfigError(f"-o {args.output}: unknown figure format {suffix or '(none)'!r}; valid: {', '.join(sorted(formats))}")


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _print_tables(digest: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped or redirected: do not squeeze the tables into 80 columns
        console = Console(width=PIPED_WIDTH)
    estimates = Table(title=escape(f"s* for loss {digest['loss']!r}: P = {digest['p']}, Q = {digest['q']}"))
    for column in ("estimate", "max |error| vs closed form", "grid points compared"):
        estimates.add_column(column, justify="left" if column == "estimate" else "right")
    for name, values in digest["estimates"].items():
        error = _fmt(values["max_abs_error"]) if digest["closed_form"] else "no closed form"
        estimates.add_row(name, error, str(values["points_compared"]))
    console.print(estimates)
    outer = Table(title="outer loop over Q_θ = P shifted by θ")
    for column in ("curve", "kind", "argmin θ", "min", "|gradient| at θ max"):
        outer.add_column(column, justify="left" if column in ("curve", "kind") else "right")
    for name, values in digest["outer"].items():
        outer.add_row(escape(name), values["kind"], f"{values['argmin_theta']:+.2f}", _fmt(values["min"]), _fmt(values["gradient_at_edge"]))
    console.print(outer)


def run(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from energan.lab.analysis import analyse, summary
    from energan.lab.densities import parse_density
    from energan.lab.figure import save_figure

    _check(args)
    loss = args.loaded_plugins.registries.losses.get(args.loss).create(_overrides(args.overrides))
    p, q = parse_density(args.p), parse_density(args.q)
    with Progress(transient=True, disable=args.json) as progress:
        task = progress.add_task("learning s* on samples", total=args.learn_steps)
        result = analyse(
            loss,
            args.loss,
            p,
            q,
            resolution=args.resolution,
            learn_steps=args.learn_steps,
            theta_max=args.theta_max,
            seed=args.seed,
            on_learn_step=lambda step: progress.update(task, completed=step),
        )
    save_figure(result, args.output)
    digest = summary(result)
    if args.json:
        print(json.dumps(digest, indent=2, allow_nan=False))
    else:
        _print_tables(digest)
        print(f"wrote {args.output}")
    return 0

"""``energan plot``: the training curves of one or several runs in one figure."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "plot",
        help="training curves of runs from their metrics.jsonl, overlaid (one colour per run)",
        description="Draw the losses, mean energies (with the margin), regularizers, loss diagnostics and metrics "
        "(± std) that runs logged in metrics.jsonl, several runs (seeds of one config, say) overlaid in one figure.",
    )
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run directories, e.g. runs/NAME")
    parser.add_argument("-o", "--output", type=Path, default=Path("curves.png"), help="figure file (.png, .pdf, .svg; default curves.png)")
    parser.add_argument(
        "--keys",
        nargs="+",
        metavar="KEY",
        help="draw these logged values instead, one panel each, e.g. --keys loss_d inception_score (after the runs)",
    )
    parser.add_argument(
        "--correlate",
        nargs=2,
        metavar=("TRAIN_KEY", "EVAL_KEY"),
        help="also print Spearman's rank correlation of a training value (its mean since the previous evaluation) "
        "with an evaluated one, per run and pooled, e.g. --correlate m_global inception_score",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from matplotlib.backend_bases import FigureCanvasBase

    from energan.errors import ConfigError
    from energan.plots import default_panels, draw, keyed_panels, read_run, save_figure

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = args.output.suffix.lstrip(".").lower()
    if suffix not in formats:
        raise ConfigError(f"-o {args.output}: unknown figure format {suffix or '(none)'!r}; valid: {', '.join(sorted(formats))}")
    runs = [read_run(directory) for directory in args.runs]
    panels = keyed_panels(runs, args.keys) if args.keys else default_panels(runs)
    save_figure(draw(runs, panels), args.output)
    print(f"wrote {args.output}: {', '.join(run.name for run in runs)}")
    if args.correlate:
        print_correlation(runs, *args.correlate)
    return 0


def print_correlation(runs: list, train_key: str, eval_key: str) -> None:
    """Each run's and the pooled Spearman ρ of ``train_key`` against ``eval_key``."""
    from energan.tracking import pooled_rho, tracking

    tracked = [tracking(run, train_key, eval_key) for run in runs]
    for run in tracked:
        print(f"{run.run}: Spearman ρ({train_key}, {eval_key}) = {run.rho:+.2f} over {len(run.steps)} evaluations")
    if len(tracked) > 1:
        print(f"pooled: Spearman ρ = {pooled_rho(tracked):+.2f} over {sum(len(run.steps) for run in tracked)} evaluations")

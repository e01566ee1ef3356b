"""``energan report``: a sweep's figures and statistics, from its storage."""

from __future__ import annotations

import argparse
from pathlib import Path

GOOD_FRACTION = 0.85  # "good" (and the default threshold): IS ≥ this share of the real images' IS
SUCCESS_FRACTION = 0.95  # --points: a point succeeds with IS ≥ this share of the real images' IS ...
MIN_CLASS_SHARE = 0.05  # ... and every class holding at least this share of the samples


def finite(text: str) -> float:
    """A finite number for argparse (``--threshold nan`` or ``inf`` would make every share 0 or 100 %)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number")
    return value


def _pair(text: str) -> tuple[str, str]:
    rows, sep, columns = text.partition(",")
    if not sep or not rows or not columns:
        raise argparse.ArgumentTypeError(f"{text!r}: expected two knobs as ROWS,COLUMNS, e.g. nLayerG,nLayerD")
    return rows, columns


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "report",
        help="figures and a markdown table of a sweep's scores",
        description="Histograms of the Inception Score per knob value (families side by side), best / median heat maps, "
        "and a markdown table of medians, quartiles and the share of runs above a threshold.",
    )
    parser.add_argument(
        "sweeps",
        nargs="+",
        metavar="STUDY",
        help="the sweep name given to (or printed by) energan sweep; several sweeps of one grid (other seeds) are pooled",
    )
    parser.add_argument("--storage", help="Optuna RDB URL (default sqlite:///<runs-dir>/sweeps/sweeps.db)")
    parser.add_argument("--runs-dir", default="runs", help="where the default storage lives")
    parser.add_argument("--output", type=Path, help="output directory (default <runs-dir>/sweeps/<STUDY>/report)")
    parser.add_argument("--threshold", type=finite, help="IS threshold for the share columns (default --good × the real images' IS)")
    parser.add_argument(
        "--good",
        type=finite,
        default=GOOD_FRACTION,
        metavar="FRACTION",
        help=f"a point is good at IS ≥ FRACTION × the real images' IS (default {GOOD_FRACTION}); the share columns' default threshold",
    )
    parser.add_argument(
        "--heatmap",
        action="append",
        type=_pair,
        default=[],
        metavar="ROWS,COLUMNS",
        help="knob pair of a heat map; repeatable (default nLayerG,nLayerD and sizeG,sizeD)",
    )
    parser.add_argument(
        "--points",
        action="store_true",
        help="also table every point (IS ± std, classes present, success, wall time), show their final samples, and "
        "copy the final samples of each family's best, median and worst point beside the report",
    )
    parser.add_argument(
        "--success",
        type=float,
        default=SUCCESS_FRACTION,
        metavar="FRACTION",
        help=f"with --points: a point succeeds with IS ≥ FRACTION × the real images' IS (default {SUCCESS_FRACTION}) ...",
    )
    parser.add_argument(
        "--min-share",
        type=float,
        default=MIN_CLASS_SHARE,
        help=f"... and every class holding at least this share of the samples (default {MIN_CLASS_SHARE})",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from energan.errors import ConfigError
    from energan.extras import require
    from energan.sweep.report_files import (
        cell,
        copy_extreme_samples,
        datasets,
        extremes_markdown,
        heatmap_pairs,
        is_pooled,
        markdown,
        points_markdown,
        share,
        shared_knobs,
        write_figures,
        write_markdown,
        write_montage,
    )
    from energan.sweep.results import load_results, pooled, real_score, summarize
    from energan.sweep.study import default_storage, open_storage

    require("optuna", "sweep", "energan report needs Optuna")
    storage = open_storage(args.storage or default_storage(args.runs_dir))
    sweep = " + ".join(args.sweeps)
    results = [family for family in pooled([load_results(storage, name) for name in args.sweeps]) if family.points]
    if not results:
        raise ConfigError(f"sweep {sweep!r} has no finished point yet")
    knobs = shared_knobs(results)
    for pair in args.heatmap:
        unknown = [knob for knob in pair if knob not in knobs]
        if unknown:
            raise ConfigError(f"--heatmap {','.join(pair)}: unknown knob {unknown[0]!r}; valid: {', '.join(knobs)}")
    ceiling = real_score(results)
    if args.threshold is None and ceiling is None:
        raise ConfigError("no point recorded the real images' Inception Score; pass --threshold")
    threshold = args.threshold if args.threshold is not None else args.good * ceiling
    output = args.output or Path(args.runs_dir) / "sweeps" / args.sweeps[0] / "report"
    output.mkdir(parents=True, exist_ok=True)
    figures = write_figures(results, output, ceiling, heatmap_pairs(knobs, args.heatmap))
    text = markdown(results, sweep, threshold, figures, ceiling, args.good)
    if args.points:
        montage = write_montage(results, output / "samples.png")
        text += "\n" + points_markdown(results, args.success, args.min_share, montage)
        figures += [montage] if montage else []
        copied = copy_extreme_samples(results, output)
        text += "\n" + extremes_markdown(copied, is_pooled(results)) if copied else ""
        figures += [path for *_, path in copied]
    write_markdown(output / "report.md", text)

    table = Table(title=f"sweep {sweep} on {datasets(results)}: Inception Score (share ≥ {threshold:.2f})")
    for column in ("family", "finished", "failed", "median", "Q1", "Q3", "best", "share"):
        table.add_column(column, justify="left" if column == "family" else "right")
    for family in results:
        s = summarize(family.points, threshold, family.higher_is_better)
        numbers = [cell(value) for value in (s.median, s.q1, s.q3, s.best)]
        table.add_row(family.family, str(s.finished), str(s.failed), *numbers, share(s.share_above))
    Console().print(table)
    print(f"wrote {output / 'report.md'} and {len(figures)} figures")
    return 0

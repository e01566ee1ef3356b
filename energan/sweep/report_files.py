"""``energan report``'s outputs: the figures as PNG files and a markdown table of the statistics."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from energan.atomic import write_atomic
from energan.runfiles import RunFiles
from energan.sweep.results import COLLAPSE_CLASSES, FamilyResults, PointResult, holm, paired_comparison, reliability, summarize

PREFERRED_HEATMAPS = (("nLayerG", "nLayerD"), ("sizeG", "sizeD"))


def shared_knobs(results: Sequence[FamilyResults]) -> dict[str, list]:
    """Knobs every family sweeps, with the same values (the ones families can be compared on)."""
    first, *others = results
    return {knob: values for knob, values in first.knobs.items() if all(other.knobs.get(knob) == values for other in others)}


def own_knobs(results: Sequence[FamilyResults]) -> list[tuple[FamilyResults, str, list]]:
    """Knobs that only some families sweep (the GAN's optimD, optimG and lr): (family, knob, values)."""
    shared = shared_knobs(results)
    return [(family, knob, values) for family in results for knob, values in family.knobs.items() if knob not in shared]


def heatmap_pairs(knobs: dict[str, list], requested: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    if requested:
        return list(requested)
    pairs = [pair for pair in PREFERRED_HEATMAPS if all(knob in knobs for knob in pair)]
    return pairs or ([tuple(list(knobs)[:2])] if len(knobs) >= 2 else [])


def write_figures(results: Sequence[FamilyResults], output: Path, ceiling: float | None, pairs: Sequence[tuple[str, str]]) -> list[Path]:
    from energan.sweep.figures import heatmap_figure, histogram_figure, overall_figure, save

    knobs = shared_knobs(results)
    paths = [save(overall_figure(results, ceiling), output / "hist-all.png")]
    paths += [save(histogram_figure(results, knob, values, ceiling), output / f"hist-{knob}.png") for knob, values in knobs.items()]
    paths += [
        save(histogram_figure([family], knob, values, ceiling), output / f"hist-{family.family}-{knob}.png")
        for family, knob, values in own_knobs(results)
    ]
    paths += [save(heatmap_figure(results, rows, columns), output / f"heatmap-{rows}-{columns}.png") for rows, columns in pairs]
    return paths


def write_montage(results: Sequence[FamilyResults], path: Path) -> Path | None:
    """Every point's final samples in one figure; None when no point's samples are on disk."""
    from energan.sweep.figures import montage_figure, save

    with_sweep = is_pooled(results)
    figure = montage_figure(results, lambda point: point_label(point, with_sweep))
    return save(figure, path) if figure is not None else None


def cell(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2f}"


def share(value: float) -> str:
    return "—" if math.isnan(value) else f"{100 * value:.0f} %"


def spread(points: Sequence[PointResult], threshold: float) -> str:
    """``median [Q1, Q3] · share ≥ threshold`` of some points, for one table cell."""
    s = summarize(points, threshold)
    return f"{cell(s.median)} [{cell(s.q1)}, {cell(s.q3)}] · {share(s.share_above)}"


def reliability_lines(results: Sequence[FamilyResults], ceiling: float, fraction: float) -> list[str]:
    """Per family: the median with its bootstrap 95 % interval, the share at ≥ ``fraction`` of the
    real images' score, the share collapsed, the failed points."""
    lines = [
        "## Reliability per family",
        "",
        f"Median with its bootstrap 95 % interval (10 000 resamples); good: IS ≥ {100 * fraction:.0f} % of the real "
        f"images' {ceiling:.2f} (≥ {fraction * ceiling:.2f}); collapsed: samples in fewer than {COLLAPSE_CLASSES} classes "
        "(the dataset classifier's argmax). Shares are of every point, failed ones included. Wall time: training and "
        "scoring one point, as the workers ran (several workers share the machine's cores).",
        "",
        "| family | points | failed | median [95 % interval] | good | collapsed | wall time per point (median) | in all |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for family in results:
        r = reliability(family.points, ceiling, fraction)
        seconds = [p.seconds for p in family.points if p.seconds is not None]
        per_point = f"{statistics.median(seconds):.0f} s" if seconds else "—"
        lines.append(
            f"| {family.family} | {r.points} | {r.failed} | {cell(r.median)} [{cell(r.low)}, {cell(r.high)}] | "
            f"{share(r.share_good)} | {share(r.share_collapsed)} | {per_point} | {sum(seconds) / 3600:.1f} h |"
        )
    return lines


def paired_lines(results: Sequence[FamilyResults]) -> list[str]:
    """Every two families that sweep the same knobs compared point by point; none if no two do."""
    pairs = [(a, b) for i, a in enumerate(results) for b in results[i + 1 :] if a.knobs == b.knobs]
    if not pairs:
        return []
    lines = [
        "## Families point by point",
        "",
        "Each two families over the points both scored: the same knob values in the same sweep (seed). Difference: "
        "IS of the first − IS of the second, its median with a bootstrap 95 % interval; p: the two-sided sign test "
        "on how often each scored higher (ties left out), and Holm's adjustment for the table's comparisons together.",
        "",
        "| first | second | pairs | median difference [95 % interval] | first higher | second higher | p | p (Holm) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    comparisons = [paired_comparison(first, second) for first, second in pairs]
    for c, adjusted in zip(comparisons, holm([c.p_value for c in comparisons]), strict=True):
        lines.append(
            f"| {c.first} | {c.second} | {c.pairs} | {c.median_difference:+.2f} [{c.low:+.2f}, {c.high:+.2f}] | "
            f"{c.first_higher} | {c.second_higher} | {probability(c.p_value)} | {probability(adjusted)} |"
        )
    return lines


def probability(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2g}"


def markdown(
    results: Sequence[FamilyResults], sweep: str, threshold: float, figures: Sequence[Path], ceiling: float | None, fraction: float
) -> str:
    """Family summary and reliability, per-knob medians and quartiles, failed points, and links to the figures."""
    lines = [
        f"# Sweep `{sweep}`",
        "",
        f"Data: {datasets(results)}.",
        "",
        f"Score: Inception Score of each point's final generator. Share: finished points with IS ≥ {threshold:.2f}"
        " (failed points count as below).",
        "",
        protocol_line(results),
        "",
        "| family | points | finished | failed | median | Q1 | Q3 | IQR | best | share ≥ threshold |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for family in results:
        s = summarize(family.points, threshold, family.higher_is_better)
        lines.append(
            f"| {family.family} | {family.grid_size} | {s.finished} | {s.failed} | {cell(s.median)} | {cell(s.q1)} | "
            f"{cell(s.q3)} | {cell(s.iqr)} | {cell(s.best)} | {share(s.share_above)} |"
        )
    if ceiling is not None:
        lines += ["", *reliability_lines(results, ceiling, fraction)]
    paired = paired_lines(results)
    lines += ["", *paired] if paired else []
    names = [family.family for family in results]
    lines += [
        "",
        "## Median [Q1, Q3] and share ≥ threshold per knob value",
        "",
        f"| knob | value | {' | '.join(names)} |",
        "|---|---|" + "---|" * len(names),
    ]
    for knob, values in shared_knobs(results).items():
        for value in values:
            cells = [spread(family.where(knob, value), threshold) for family in results]
            lines.append(f"| {knob} | {value} | {' | '.join(cells)} |")
    own = own_knobs(results)
    if own:
        lines += [
            "",
            "## Knobs the families do not share",
            "",
            "| family | knob | value | median [Q1, Q3] · share ≥ threshold |",
            "|---|---|---|---|",
        ]
        for family, knob, values in own:
            lines += [f"| {family.family} | {knob} | {value} | {spread(family.where(knob, value), threshold)} |" for value in values]
    failed = [point for family in results for point in family.failed]
    if failed:
        lines += ["", "## Failed points", ""]
        lines += [f"- {p.family} {p.point}: {p.error}" for p in failed]
    lines += ["", "## Figures", ""] + [f"![{path.stem}]({path.name})" for path in figures]
    return "\n".join(lines) + "\n"


def extremes(family: FamilyResults) -> dict[str, PointResult]:
    """The best, median (of two middle ones, the worse) and worst scored point of a family."""
    ranked = sorted((p for p in family.points if p.score is not None), key=lambda p: p.score, reverse=family.higher_is_better)
    if not ranked:
        return {}
    return {"best": ranked[0], "median": ranked[len(ranked) // 2], "worst": ranked[-1]}


def copy_extreme_samples(results: Sequence[FamilyResults], output: Path) -> list[tuple[str, str, PointResult, Path]]:
    """Each family's best, median and worst point's final sample grid, copied beside the report
    as ``samples-FAMILY-RANK.png``; points whose run directory is gone are left out."""
    copied = []
    for family in results:
        for rank, point in extremes(family).items():
            grids = RunFiles(Path(point.run_dir)).sample_grids() if point.run_dir else []
            if grids:
                target = output / f"samples-{family.family}-{rank}.png"
                data = grids[-1].read_bytes()
                write_atomic(target, lambda stream, data=data: stream.write(data))
                copied.append((family.family, rank, point, target))
    return copied


def extremes_markdown(copied: Sequence[tuple[str, str, PointResult, Path]], with_sweep: bool) -> str:
    """Each copied sample grid under its point's score and label (naming its sweep in a pooled report)."""
    lines = ["## Best, median and worst point of each family", ""]
    for family, rank, point, path in copied:
        lines += [
            f"**{family}, {rank}** (IS {point.score:.2f}; {point_label(point, with_sweep)})",
            "",
            f"![{family} {rank}]({path.name})",
            "",
        ]
    return "\n".join(lines)


def knob_label(point: PointResult) -> str:
    return ", ".join(f"{knob}={value}" for knob, value in point.point.items())


def point_label(point: PointResult, with_sweep: bool) -> str:
    """The point's knob values, and its sweep where several sweeps (seeds) are pooled."""
    return f"{knob_label(point)} ({point.sweep})" if with_sweep else knob_label(point)


def is_pooled(results: Sequence[FamilyResults]) -> bool:
    return len({p.sweep for family in results for p in family.points}) > 1


def datasets(results: Sequence[FamilyResults]) -> str:
    """The dataset the families trained on (each family's where they differ), as the sweeps recorded it."""
    names = list(dict.fromkeys(family.data or "not recorded" for family in results))
    if len(names) == 1:
        return names[0]
    return ", ".join(f"{family.family} on {family.data or 'not recorded'}" for family in results)


def protocol_line(results: Sequence[FamilyResults]) -> str:
    """How the scores were computed, as the points recorded it (sweeps from before the protocol have none)."""
    protocol = next((p.details for f in results for p in f.points if "inception_samples" in p.details), None)
    if protocol is None:
        return "Protocol: not recorded by this sweep's points."
    return (
        f"Protocol: {protocol['inception_samples']:.0f} samples in {protocol['inception_splits']:.0f} splits, mean ± std "
        "over the splits; the real images' score by the same protocol (as many draws from the test images' class "
        f"probabilities); classifier held-out accuracy {protocol.get('classifier_test_accuracy', math.nan):.3f}."
    )


def points_markdown(results: Sequence[FamilyResults], fraction: float, min_share: float, montage: Path | None) -> str:
    """Every point: score ± std over splits, classes present, success, wall time; then the montage."""
    lines = [
        "## Every point",
        "",
        f"Success: IS ≥ {100 * fraction:.0f} % of the real images' IS and every class voted for by ≥ "
        f"{100 * min_share:.0f} % of the samples (the dataset classifier's argmax).",
        "",
        "| family | succeeded | of |",
        "|---|---|---|",
    ]
    lines += [f"| {f.family} | {sum(p.succeeded(fraction, min_share) for p in f.points)} | {len(f.points)} |" for f in results]
    with_sweep = is_pooled(results)
    lines += [
        "",
        "| family | point | IS (mean ± std) | real IS | classes ≥ share | smallest share | success | wall time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for family in results:
        for p in family.points:
            label = point_label(p, with_sweep)
            if p.score is None:
                lines.append(f"| {family.family} | {label} | failed: {p.error} | | | | no | |")
                continue
            d = p.details
            lines.append(
                f"| {family.family} | {label} | {p.score:.2f} ± {d.get('inception_score_std', math.nan):.2f} | "
                f"{p.real_score or math.nan:.2f} | {d.get('classes_present', math.nan):.0f} | {d.get('smallest_class_share', math.nan):.3f} | "
                f"{'yes' if p.succeeded(fraction, min_share) else 'no'} | {p.seconds or math.nan:.0f} s |"
            )
    if montage is not None:
        lines += ["", f"![final samples of every point]({montage.name})"]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, text: str) -> None:
    write_atomic(path, lambda stream: stream.write(text.encode()))

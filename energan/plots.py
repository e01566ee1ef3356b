"""Training curves: a run's ``metrics.jsonl`` read back into series, and one figure of one run or
of several overlaid (one colour per run). Matplotlib is imported only when a figure is drawn."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from energan.atomic import write_atomic
from energan.config import read_toml
from energan.errors import CheckpointError, ConfigError
from energan.kinds import LOSS, METRIC
from energan.metrics.heldout import KEYS as HELDOUT_KEYS
from energan.records import SPEED, START, read_records
from energan.runfiles import RunFiles

LOSSES = ("loss_d", "loss_g")
ENERGIES = ("energy_real", "energy_fake")
MARGIN = "margin"  # logged by a loss whose margin adapts (MAGAN); a fixed one is config.toml's loss.margin
NOT_CURVES = SPEED
RECORD_FIELDS = ("step", "time", "kind")
WIDTH, ROW_HEIGHT, DPI = 11.0, 3.0, 100  # inches per figure, inches per row of panels, dots per inch
STYLES = ("-", "--", ":", "-.")  # one line style per key when colours tell the runs apart


class Series(NamedTuple):
    steps: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class RunCurves:
    """One run's logged series, by kind (``train``, ``eval``, ``evaluate``) then key, and what
    its ``config.toml`` adds: the loss's fixed margin and the configured metric names."""

    name: str
    series: dict[str, dict[str, Series]]
    margin: float | None
    metrics: tuple[str, ...]

    def get(self, kind: str, key: str) -> Series | None:
        return self.series.get(kind, {}).get(key)


@dataclass(frozen=True)
class Panel:
    """One axis: ``keys`` of one kind of line (``train`` or ``eval``); ``margin`` adds the margin."""

    title: str
    kind: str
    keys: tuple[str, ...]
    margin: bool = False


def read_series(path: Path) -> dict[str, dict[str, Series]]:
    """Every number of a ``metrics.jsonl`` as a series over steps, by kind then key (in file order)."""
    points: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    for record in read_records(path):
        if record["kind"] == START:  # how the run was launched, not a value over steps
            continue
        by_key = points.setdefault(record["kind"], {})
        for key, value in record.items():
            if key in RECORD_FIELDS or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            steps, values = by_key.setdefault(key, ([], []))
            steps.append(record["step"])
            values.append(float(value))
    return {kind: {key: Series(tuple(s), tuple(v)) for key, (s, v) in by_key.items()} for kind, by_key in points.items()}


def read_run(directory: Path) -> RunCurves:
    """A run directory's curves; a missing directory or one without ``metrics.jsonl`` is an error."""
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such run directory")
    files = RunFiles(directory)
    path = files.metrics
    if not path.is_file():
        raise CheckpointError(f"{directory} has no {path.name}: not a run directory, or nothing logged yet")
    series = read_series(path)
    if not any(series.values()):
        raise CheckpointError(f"{path} is empty: nothing logged yet")
    config = read_toml(files.config) if files.is_run() else {}
    margin = config.get(LOSS.key, {}).get(MARGIN)
    fixed = float(margin) if isinstance(margin, int | float) else None
    return RunCurves(directory.absolute().name, series, fixed, tuple(config.get(METRIC.key, {})))


def _keys(runs: Sequence[RunCurves], *kinds: str) -> list[str]:
    """The keys logged by any of ``runs`` under any of ``kinds``, in first-seen order."""
    return list(dict.fromkeys(key for run in runs for kind in kinds for key in run.series.get(kind, {})))


def headline_keys(runs: Sequence[RunCurves]) -> list[str]:
    """The metrics' headline values: a configured metric's name, or a value logged with its spread
    (``<key>_std``); with neither, each run's first evaluated value (a metric reports its headline first).
    ``<key>_real`` (the real images' value) is drawn with ``<key>``, not on its own."""
    logged = _keys(runs, "eval", "evaluate")
    names = {name for run in runs for name in run.metrics}
    chosen = [key for key in logged if key in names or f"{key}_std" in logged]
    chosen = [key for key in chosen if not (key.endswith("_real") and key.removesuffix("_real") in chosen)]
    if chosen:
        return chosen
    firsts = [keys[0] for keys in _unheld(runs) if keys]
    return list(dict.fromkeys(firsts))


def _unheld(runs: Sequence[RunCurves]) -> list[list[str]]:
    """Each run's evaluated keys, in logged order, without the energy's eval-mode values."""
    kinds = ("eval", "evaluate")
    return [[key for key in run.series[kind] if key not in HELDOUT_KEYS] for run in runs for kind in kinds if run.series.get(kind)]


def default_panels(runs: Sequence[RunCurves]) -> list[Panel]:
    """Losses; energies with the margin; regularizers; the loss's diagnostics; one panel per metric."""
    train = _keys(runs, "train")
    evaluated = _keys(runs, "eval", "evaluate")
    grouped = (*LOSSES, *ENERGIES, MARGIN, *NOT_CURVES)
    panels = [
        Panel("losses", "train", tuple(key for key in LOSSES if key in train)),
        Panel("mean energy", "train", tuple(key for key in ENERGIES if key in train), margin=True),
        Panel("regularizers", "train", tuple(key for key in train if key.startswith("reg_"))),
        Panel("loss diagnostics", "train", tuple(key for key in train if key not in grouped and not key.startswith("reg_"))),
    ]
    panels.append(Panel("energy in eval mode", "eval", tuple(key for key in HELDOUT_KEYS if key in evaluated)))
    for key in headline_keys(runs):
        panels.append(Panel(key, "eval", tuple(k for k in (key, f"{key}_real") if k in evaluated)))
    return [panel for panel in panels if panel.keys]


def keyed_panels(runs: Sequence[RunCurves], keys: Sequence[str]) -> list[Panel]:
    """One panel per chosen key, a training value or an evaluated one (with its spread when logged)."""
    train, evaluated = _keys(runs, "train"), _keys(runs, "eval", "evaluate")
    panels = []
    for key in keys:
        if key not in train and key not in evaluated:
            valid = ", ".join(sorted({*train, *evaluated}))
            raise ConfigError(f"--keys {key}: no run logged {key!r}; logged keys: {valid}")
        panels.append(Panel(key, "train" if key in train else "eval", (key,)))
    return panels


def draw(runs: Sequence[RunCurves], panels: Sequence[Panel]) -> Any:
    """A ``matplotlib.figure.Figure`` of ``panels``, two per row. One run: one colour per key;
    several: one colour per run (named in the figure's legend), one line style per key."""
    from matplotlib.figure import Figure  # a bare Figure needs no pyplot and no global backend
    from matplotlib.lines import Line2D

    columns = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(WIDTH, ROW_HEIGHT * rows), dpi=DPI, layout="constrained")
    axes = list(figure.subplots(rows, columns, squeeze=False).flat)
    for axis, panel in zip(axes, panels, strict=False):
        _draw_panel(axis, panel, runs)
    for axis in axes[len(panels) :]:
        axis.set_visible(False)
    if len(runs) == 1:
        figure.suptitle(runs[0].name)
    else:
        handles = [Line2D([], [], color=f"C{index}", label=run.name) for index, run in enumerate(runs)]
        figure.legend(handles=handles, loc="outside upper center", ncols=min(len(runs), 5), fontsize=8)
    return figure


def _draw_panel(axis: Any, panel: Panel, runs: Sequence[RunCurves]) -> None:
    """Each run's lines (gid ``RUN:KEY``), an evaluated value's ± std band, ``energan evaluate``
    scores as crosses, and in the energy panel the margin: logged (a series) or fixed (a line)."""
    from matplotlib.lines import Line2D

    several = len(runs) > 1
    keys = [*panel.keys, MARGIN] if panel.margin else list(panel.keys)

    def style(run_index: int, key: str, label: str) -> dict[str, Any]:
        """Colour per run and line style per key (several runs), else colour per key and a label."""
        gid = f"{runs[run_index].name}:{key}"
        if several:
            return {"color": f"C{run_index}", "linestyle": STYLES[keys.index(key) % len(STYLES)], "gid": gid}
        return {"color": f"C{keys.index(key)}", "label": label, "gid": gid}

    drawn = set()
    for run_index, run in enumerate(runs):
        for key in panel.keys:
            series = run.get(panel.kind, key)
            if series is not None:
                line = axis.plot(series.steps, series.values, **style(run_index, key, key))[0]
                _band(axis, run, panel.kind, key, series, line.get_color())
                drawn.add(key)
            scored = run.get("evaluate", key) if panel.kind == "eval" else None
            if scored is not None:
                marks = style(run_index, key, f"{key} (energan evaluate)")
                axis.plot(scored.steps, scored.values, **{**marks, "gid": f"{marks['gid']}:evaluate", "linestyle": "none", "marker": "x"})
                drawn.add(key)
        logged = run.get("train", MARGIN) if panel.margin else None
        if logged is not None:
            axis.plot(logged.steps, logged.values, **style(run_index, MARGIN, MARGIN))
            drawn.add(MARGIN)
        elif panel.margin and run.margin is not None:
            axis.axhline(run.margin, **style(run_index, MARGIN, f"{MARGIN} {run.margin:g}"))
            drawn.add(MARGIN)
    axis.set_title(panel.title, fontsize=10)
    axis.set_xlabel("step", fontsize=8)
    axis.tick_params(labelsize=8)
    if several:  # line styles name the keys; the figure's legend names the runs' colours
        handles = [Line2D([], [], color="grey", linestyle=STYLES[keys.index(key) % len(STYLES)], label=key) for key in keys if key in drawn]
        axis.legend(handles=handles, fontsize=7)
    else:
        axis.legend(fontsize=7)


def _band(axis: Any, run: RunCurves, kind: str, key: str, series: Series, color: str) -> None:
    """Mean ± std where ``<key>_std`` was logged with the value."""
    spread = run.get(kind, f"{key}_std")
    if spread is None:
        return
    std = dict(zip(spread.steps, spread.values, strict=True))
    rows = [(step, value, std[step]) for step, value in zip(series.steps, series.values, strict=True) if step in std]
    steps = [step for step, _, _ in rows]
    low = [value - width for _, value, width in rows]
    high = [value + width for _, value, width in rows]
    axis.fill_between(steps, low, high, color=color, alpha=0.2, linewidth=0, gid=f"{run.name}:{key}_std")


def save_figure(figure: Any, path: Path) -> None:
    """Write ``figure`` atomically, in the format its suffix names (.png, .pdf, .svg, ...)."""
    write_atomic(path, lambda stream: figure.savefig(stream, format=path.suffix.lstrip(".").lower(), dpi=DPI))


def write_curves(directory: Path) -> Path:
    """Draw a run's curves from its ``metrics.jsonl`` into ``<run>/curves.png``."""
    runs = [read_run(directory)]
    path = RunFiles(directory).curves
    save_figure(draw(runs, default_panels(runs)), path)
    return path

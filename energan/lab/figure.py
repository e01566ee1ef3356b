"""The lab's matplotlib figure: densities, s* three ways, and the outer-loop curves."""

from __future__ import annotations

import textwrap
from itertools import zip_longest
from pathlib import Path
from typing import Any

import torch

from energan.atomic import write_atomic
from energan.lab.analysis import LabResult

CLIP = 20.0  # s* is drawn clipped to [−CLIP, CLIP]: log q/p and q/p explode in the tails
WIDE_RANGE = 1e3  # a panel whose largest value exceeds this × its median gets a symlog axis
STYLES = {"closed form": ("black", "-"), "pointwise": ("tab:orange", "--"), "learned": ("tab:blue", ":")}


def _curves_panel(axis: Any, result: LabResult, kind: str, title: str) -> None:
    for curve in result.curves:
        if curve.kind == kind:
            axis.plot(curve.thetas.numpy(), curve.values.numpy(), label=f"{curve.name} (min at θ={curve.argmin:+.2f})")
    axis.axvline(0.0, color="grey", linewidth=0.8)
    values = torch.cat([curve.values for curve in result.curves if curve.kind == kind])
    finite = values[values.isfinite()]
    if len(finite) and finite.abs().max() > WIDE_RANGE * (finite.abs().median() + 1e-12):  # e.g. LSIF's exp(θ²)
        if finite.min() > 0:
            axis.set_yscale("log")
        else:
            axis.set_yscale("symlog", linthresh=1.0)
    axis.set_xlabel("θ (Q_θ = P shifted by θ along x)")
    axis.set_title(title)
    axis.legend(fontsize=7)


def _one_dimensional(figure: Any, result: LabResult) -> None:
    x = result.grid.points[:, 0].numpy()
    densities, discrepancy, objectives, divergences = figure.subplots(2, 2).flat
    densities.plot(x, result.log_p.exp().numpy(), label=f"P = {result.p}")
    densities.plot(x, result.log_q.exp().numpy(), label=f"Q = {result.q}")
    densities.set_title("densities")
    densities.legend(fontsize=7)
    series = [("closed form", result.closed_form)] + [(e.name, e.values) for e in result.estimates]
    for name, values in series:
        if values is not None:
            color, style = STYLES[name]
            discrepancy.plot(x, torch.clamp(values, -CLIP, CLIP).numpy(), color=color, linestyle=style, label=name)
    discrepancy.set_title(f"optimal discrepancy s*(x), loss {result.loss_name!r} (clipped to ±{CLIP:g})")
    discrepancy.legend(fontsize=7)
    _curves_panel(objectives, result, "objective", "outer loop: generator objective")
    _curves_panel(divergences, result, "divergence", "divergences of Q_θ from P")


def _two_dimensional(figure: Any, result: LabResult) -> None:
    densities, *images, objectives, divergences = figure.subplots(2, 3).flat
    x_axis, y_axis = result.grid.axes
    extent = [float(x_axis[0]), float(x_axis[-1]), float(y_axis[0]), float(y_axis[-1])]
    for log_density, cmap in ((result.log_p, "Blues"), (result.log_q, "Oranges")):
        densities.contour(result.grid.as_image(log_density.exp()).numpy(), extent=extent, cmap=cmap)
    title = "\n".join(textwrap.wrap(f"P = {result.p} (blue)", 60) + textwrap.wrap(f"Q = {result.q} (orange)", 60))
    densities.set_title(title, fontsize=7)
    series = [("closed form", result.closed_form)] + [(e.name, e.values) for e in result.estimates]
    pointwise = torch.clamp(result.estimates[0].values, -CLIP, CLIP)
    shared = pointwise[pointwise.isfinite()]
    limits = {"vmin": float(shared.min()), "vmax": float(shared.max())} if len(shared) else {}
    for axis, (name, values) in zip_longest(images, series, fillvalue=(None, None)):
        if values is None:
            axis.set_title(f"{name}: none known" if name else "")
            axis.axis("off")
            continue
        image = axis.imshow(
            result.grid.as_image(torch.clamp(values, -CLIP, CLIP)).numpy(), origin="lower", extent=extent, aspect="auto",
            **limits,
        )
        figure.colorbar(image, ax=axis)
        axis.set_title(f"s*(x): {name}")
    _curves_panel(objectives, result, "objective", "outer loop: generator objective")
    _curves_panel(divergences, result, "divergence", "divergences of Q_θ from P")


def save_figure(result: LabResult, path: Path) -> None:
    """Write the figure (format from the suffix, e.g. .png or .pdf) atomically."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 8) if result.p.dim == 1 else (15, 8), layout="constrained")
    (_one_dimensional if result.p.dim == 1 else _two_dimensional)(figure, result)
    image_format = path.suffix.lstrip(".").lower() or "png"
    write_atomic(path, lambda stream: figure.savefig(stream, dpi=120, format=image_format))

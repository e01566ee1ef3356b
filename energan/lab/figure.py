"""The lab's matplotlib figure: densities, s* three ways, and the outer-loop curves."""

from __future__ import annotations

import textwrap
from itertools import zip_longest
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from energan.atomic import write_atomic
from energan.lab.analysis import LabResult

CLIP = 20.0  # s* is drawn clipped to [−CLIP, CLIP]: log q/p and q/p explode in the tails
WIDE_RANGE = 1e3  # a panel whose largest value exceeds this × its median gets a symlog axis
STYLES = {"closed form": ("black", "-"), "pointwise": ("tab:orange", "--"), "learned": ("tab:blue", ":")}


def _scale_for(axis: Any, values: Tensor) -> None:
    """A log (or symlog) axis when the values span orders of magnitude (e.g. LSIF's exp(θ²))."""
    finite = values[values.isfinite()]
    if len(finite) and finite.abs().max() > WIDE_RANGE * (finite.abs().median() + 1e-12):
        if finite.min() > 0:
            axis.set_yscale("log")
        else:
            axis.set_yscale("symlog", linthresh=1.0)


def _curves_panel(axis: Any, result: LabResult, kind: str, title: str, gradients: bool = False) -> None:
    curves = [curve for curve in result.curves if curve.kind == kind]
    for curve in curves:
        values = curve.gradients.abs() if gradients and curve.gradients is not None else curve.values
        label = curve.name if gradients else f"{curve.name} (min at θ={curve.argmin:+.2f})"
        axis.plot(curve.thetas.numpy(), values.numpy(), label=label)
    axis.axvline(0.0, color="grey", linewidth=0.8)
    _scale_for(axis, torch.cat([c.gradients.abs() if gradients else c.values for c in curves]))
    axis.set_xlabel("θ (Q_θ = P shifted by θ along x)")
    axis.set_title(title)
    axis.legend(fontsize=7)


def _outer_panels(objectives: Any, gradients: Any, divergences: Any, result: LabResult) -> None:
    _curves_panel(objectives, result, "objective", "outer loop: generator objective E_Q f(s*)")
    _curves_panel(gradients, result, "objective", "|generator gradient| (s* held fixed)", gradients=True)
    _curves_panel(divergences, result, "divergence", "divergences of Q_θ from P")


def _one_dimensional(figure: Any, result: LabResult) -> None:
    x = result.grid.points[:, 0].numpy()
    panels = figure.subplot_mosaic([["densities", "s*", "s*"], ["objectives", "gradients", "divergences"]])
    densities, discrepancy = panels["densities"], panels["s*"]
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
    _outer_panels(panels["objectives"], panels["gradients"], panels["divergences"], result)


def _two_dimensional(figure: Any, result: LabResult) -> None:
    densities, *images, objectives, gradients, divergences, unused = figure.subplots(2, 4).flat
    unused.axis("off")
    x_axis, y_axis = result.grid.axes
    half_x, half_y = float(x_axis[1] - x_axis[0]) / 2, float(y_axis[1] - y_axis[0]) / 2  # pixels centred on points
    extent = [float(x_axis[0]) - half_x, float(x_axis[-1]) + half_x, float(y_axis[0]) - half_y, float(y_axis[-1]) + half_y]
    for log_density, cmap in ((result.log_p, "Blues"), (result.log_q, "Oranges")):
        densities.contour(x_axis.numpy(), y_axis.numpy(), result.grid.as_image(log_density.exp()).numpy(), cmap=cmap)
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
            result.grid.as_image(torch.clamp(values, -CLIP, CLIP)).numpy(),
            origin="lower",
            extent=extent,
            aspect="auto",
            **limits,
        )
        figure.colorbar(image, ax=axis)
        axis.set_title(f"s*(x): {name}")
    _outer_panels(objectives, gradients, divergences, result)


def save_figure(result: LabResult, path: Path) -> None:
    """Write the figure (format from the suffix, e.g. .png or .pdf) atomically."""
    from matplotlib.figure import Figure  # a bare Figure needs no pyplot and no global backend

    figure = Figure(figsize=(15, 8) if result.p.dim == 1 else (19, 8), layout="constrained")
    (_one_dimensional if result.p.dim == 1 else _two_dimensional)(figure, result)
    image_format = path.suffix.lstrip(".").lower() or "png"
    write_atomic(path, lambda stream: figure.savefig(stream, dpi=120, format=image_format))

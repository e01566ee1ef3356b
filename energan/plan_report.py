"""``energan train --dry-run``: a config's plan (energan.plan) printed as aligned text or JSON."""

from __future__ import annotations

import json

from energan.config import TrainConfig, resolve
from energan.plan import CARDS_GIB, IMAGES_PER_ROW, STEP_TIMES_S, Plan, plan
from energan.plugins import Plugins


def dry_run(config: TrainConfig, plugins: Plugins, output: str) -> int:
    """Print the plan of ``config`` as ``output`` (table or json); nothing is trained or written."""
    resolved = resolve(config, plugins.registries)
    planned = plan(resolved, plugins)
    print(json.dumps(planned.to_dict(), indent=2) if output == "json" else render(planned, resolved.data.name))
    return 0


def render(planned: Plan, dataset: str) -> str:
    """The plan as aligned ``label  value`` lines."""
    cost, batch = planned.cost, planned.batch_size
    channels, height, width = planned.shape
    networks = ", ".join(f"{name} {count:,}" for name, count in planned.parameters.items())
    rows = [
        ("data", f"{dataset}, images {channels}×{height}×{width}"),
        ("step", f"batch {batch}, {planned.d_steps} energy update(s) + 1 generator update, amp {planned.amp}"),
        ("parameters", f"{networks} (total {sum(planned.parameters.values()):,})"),
        ("FLOPs per step", f"{flops(cost.flops)} (matrix products and convolutions, forward and backward)"),
        (
            "peak memory per rank",
            f"{size(cost.peak_bytes)} at batch {batch}: {size(cost.persistent_bytes)} weights, gradients and optimizer "
            f"states + {size(cost.peak_bytes - cost.persistent_bytes)} during the step",
        ),
    ]
    if planned.store_bytes is not None:
        counted = f"{planned.images:,} images" if planned.images is not None else f"per {IMAGES_PER_ROW:,} images (no --data-dir given)"
        decoded = "" if planned.prepared else "; not written: data.prepare = false decodes every image on every draw"
        rows.append(("prepared set on disk", f"{size(planned.store_bytes)} ({counted}){decoded}"))
    rows.append(("images/s to feed", ", ".join(f"{planned.feed_rate(step_s):,.0f} at {seconds(step_s)}/step" for step_s in STEP_TIMES_S)))
    for gib in CARDS_GIB:
        largest = planned.largest_batch[gib]
        fits = "fits" if planned.fits(gib) else "does not fit"
        rows.append((f"{gib} GB card", f"{fits} at batch {batch}; largest power-of-two batch: {largest or 'none'}"))
    width_label = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width_label}}  {value}" for label, value in rows)


def size(count: int) -> str:
    """Bytes in MiB or GiB."""
    return f"{count / 2**30:.2f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"


def flops(count: int) -> str:
    """FLOPs in GFLOP or TFLOP."""
    return f"{count / 1e12:.2f} TFLOP" if count >= 1e12 else f"{count / 1e9:.2f} GFLOP"


def seconds(step_s: float) -> str:
    return f"{step_s * 1000:g} ms" if step_s < 1 else f"{step_s:g} s"

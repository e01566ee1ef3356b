"""Markdown tables from a pytest-benchmark JSON file of the benchmark suites.

    python -m benchmarks.report IN.json OUT.md

One table per device and dtype, one row per shape: each implementation's median time and
peak extra memory, and the speed-up and memory ratio of the kernel (fused on CPU, triton
on CUDA) over the N×N reference. Then the trainer step against its references and its floor,
and the input pipeline (images/s drawn from a folder, decoded or prepared) beside the images/s
each shipped image config's step consumes.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ORDER = ("fused", "triton", "reference", "compiled", "gemm")
PAIRED = {  # kind → the reference it was paired with
    "trainer-step": "hand-written",
    "trainer-step-conv": "hand-written (conv)",
    "trainer-step-compiled": "eager",
    "trainer-step-levers": "one forward per batch, timm's EMA update",
    "trainer-step-cuda": "hand-written (CUDA)",
    "trainer-step-cuda-bf16": "fp32 (CUDA)",
    "trainer-step-cuda-compiled": "eager (CUDA)",
}
FLOORS = {  # kind → what the step's floor is
    "step-floor": "make train's model (ebgan-pt.toml)",
    "step-floor-conv": "the conv path (ebgan-pt-dcgan.toml)",
}
INPUT = "input-pipeline"  # images/s of one path (decode on draw or prepared) at one dataset kind and size
STEP = "input-step"  # images/s a shipped config's training step consumes
PREPARED_PER_CORE = 20_000  # the targets: images/s of the prepared path on one core at 64 px,
PREPARED_OVER_DECODE = 30  # and its ratio to the decode-on-draw path (one core each) at every size
BASELINE = "reference"
MIB = 2**20

Cases = dict[tuple[str, str], dict[tuple[int, int], dict[str, tuple[float, int]]]]


def load_cases(path: Path) -> Cases:
    """(device, dtype) → (n, d) → impl → (median seconds, peak extra bytes)."""
    cases: Cases = defaultdict(lambda: defaultdict(dict))
    for bench in json.loads(path.read_text())["benchmarks"]:
        info = bench["extra_info"]
        if info.get("kind") in PAIRED or info.get("kind") in FLOORS or info.get("kind") in (INPUT, STEP):
            continue
        cases[info["device"], info["dtype"]][info["n"], info["d"]][info["impl"]] = (
            bench["stats"]["median"],
            info["peak_extra_bytes"],
        )
    return cases


def ratio(numerator: float | None, denominator: float | None) -> str:
    return f"{numerator / denominator:.1f}×" if numerator and denominator else "–"


def number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def table(device: str, dtype: str, shapes: dict[tuple[int, int], dict[str, tuple[float, int]]]) -> list[str]:
    impls = [impl for impl in ORDER if any(impl in row for row in shapes.values())]
    kernel = "fused" if device == "cpu" else "triton"
    header = (
        ["N", "D"]
        + [f"{impl} ms" for impl in impls]
        + [f"speed-up {kernel}/{BASELINE}"]
        + [f"{impl} peak MiB" for impl in impls]
        + [f"memory {BASELINE}/{kernel}"]
    )
    lines = [f"## {device} {dtype}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (n, d), row in sorted(shapes.items()):
        times = {impl: row[impl][0] * 1e3 for impl in impls if impl in row}
        peaks = {impl: row[impl][1] / MIB for impl in impls if impl in row}
        cells = (
            [str(n), str(d)]
            + [number(times.get(impl)) for impl in impls]
            + [ratio(times.get(BASELINE), times.get(kernel))]
            + [number(peaks.get(impl)) for impl in impls]
            + [ratio(peaks.get(BASELINE), peaks.get(kernel))]
        )
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def trainer_step_table(path: Path) -> list[str]:
    """energan's step against its paired reference (the hand-written loop; the eager step for the
    compiled one): medians over the paired rounds and the ratio."""
    benches = json.loads(path.read_text())["benchmarks"]
    paired = [bench for bench in benches if bench["extra_info"].get("kind") in PAIRED]
    if not paired:
        return []
    lines = [
        "# Trainer step (EBGAN-PT, default model)",
        "",
        "| step | median ms | reference | reference ms | paired rounds | time vs reference |",
        "|---|---|---|---|---|---|",
    ]
    for bench in paired:
        info = bench["extra_info"]
        reference = PAIRED[info["kind"]]
        median, reference_median = bench["stats"]["median"], info["reference_median"]
        lines.append(
            f"| {bench['name'].removeprefix('test_')} | {median * 1e3:.3f} | {reference} | {reference_median * 1e3:.3f} | "
            f"{bench['stats']['rounds']} | {median / reference_median - 1:+.1%} |"
        )
    return [*lines, ""]


def floor_table(path: Path) -> list[str]:
    """Each step against its floor (the same matrix products replayed alone): the step-to-floor ratio."""
    benches = [bench for bench in json.loads(path.read_text())["benchmarks"] if bench["extra_info"].get("kind") in FLOORS]
    if not benches:
        return []
    lines = [
        "# Trainer step against its matrix-product floor",
        "",
        "| model | step median ms | matrix products alone ms | paired rounds | step-to-floor ratio |",
        "|---|---|---|---|---|",
    ]
    for bench in benches:
        info = bench["extra_info"]
        median, floor = bench["stats"]["median"], info["reference_median"]
        lines.append(
            f"| {FLOORS[info['kind']]} | {median * 1e3:.3f} | {floor * 1e3:.3f} | {bench['stats']['rounds']} | {median / floor:.2f} |"
        )
    return [*lines, ""]


def rate(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def input_tables(path: Path) -> list[str]:
    """Images/s of each path by dataset kind and size, each row against the issue's targets; then
    what each shipped config's step consumes, and the headroom of each path at its kind and size."""
    infos = [bench["extra_info"] for bench in json.loads(path.read_text())["benchmarks"]]
    rates = {
        (info["dataset"], info["size"], info["path"], info["cores"]): info.get("images_per_s")
        for info in infos
        if info.get("kind") == INPUT
    }
    if not rates:
        return []
    cores = max(count for *_, count in rates)
    loads = [info["load"] for info in infos if info.get("kind") in (INPUT, STEP)]
    lines = [
        "# Input pipeline",
        "",
        f"images/s of batches of 64 random indices; {cores} cores, 1-minute load average {min(loads):.1f} to {max(loads):.1f} during the cases. "
        f"Decode on draw on all cores: {cores} DataLoader workers; prepared on all cores: the training process alone "
        f"with {cores} torch threads (the gather runs there, with no workers). Targets: prepared ≥ {PREPARED_PER_CORE:,} "
        f"images/s on one core at 64 px, and ≥ {PREPARED_OVER_DECODE}× decode on draw (one core each) at every size.",
        "",
        "| dataset | px | decode on draw, 1 core | decode on draw, all cores | prepared, 1 core | prepared, all cores (one process) "
        "| prepared / decode (1 core) | targets |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dataset in dict.fromkeys(dataset for dataset, *_ in rates):  # in the order the cases ran
        for size in sorted({size for name, size, *_ in rates if name == dataset}):
            decode, prepared = rates.get((dataset, size, "decode", 1)), rates.get((dataset, size, "prepared", 1))
            cells = [
                dataset,
                str(size),
                rate(decode),
                rate(rates.get((dataset, size, "decode", cores))),
                rate(prepared),
                rate(rates.get((dataset, size, "prepared", cores))),
                ratio(prepared, decode),
                verdict(size, prepared, decode),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return [*lines, "", *step_table(infos, rates, cores)]


def verdict(size: int, prepared: float | None, decode: float | None) -> str:
    """met / not met, naming each target a row misses."""
    if prepared is None or decode is None:
        return "–"
    missed = []
    if size == 64 and prepared < PREPARED_PER_CORE:
        missed.append(f"< {PREPARED_PER_CORE:,}/s")
    if prepared < PREPARED_OVER_DECODE * decode:
        missed.append(f"< {PREPARED_OVER_DECODE}×")
    return "met" if not missed else f"not met ({', '.join(missed)})"


def headroom(supplied: float | None, consumed: float | None) -> str:
    return f"{supplied / consumed:,.0f}×" if supplied and consumed else "–"


def step_table(infos: list[dict[str, Any]], rates: dict[tuple[str, int, str, int], float | None], cores: int) -> list[str]:
    """What each shipped config's step consumes on this machine, and how many times that each
    path supplies at the config's dataset kind and size."""
    steps = [info for info in infos if info.get("kind") == STEP]
    if not steps:
        return []
    lines = [
        "# Images/s the training step consumes (CPU, this machine)",
        "",
        "| config | px | batch × d_steps | step s | images/s consumed | decode on draw, all cores, × the step | prepared, 1 core, × the step |",
        "|---|---|---|---|---|---|---|",
    ]
    for info in steps:
        consumed = info.get("images_per_s")
        cells = [
            info["config"],
            str(info["size"]),
            f"{info['batch_size']} × {info['d_steps']}",
            number(info["images"] / consumed if consumed else None),
            f"{consumed:.1f}" if consumed else "–",
            headroom(rates.get((info["dataset"], info["size"], "decode", cores)), consumed),
            headroom(rates.get((info["dataset"], info["size"], "prepared", 1)), consumed),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def render(path: Path) -> str:
    lines = []
    cases = load_cases(path)
    if cases:
        lines = ["# Pull-away forward + backward", ""]
    for (device, dtype), shapes in sorted(cases.items()):
        lines += table(device, dtype, shapes)
    return "\n".join(lines + trainer_step_table(path) + floor_table(path) + input_tables(path))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m benchmarks.report IN.json OUT.md", file=sys.stderr)
        return 2
    Path(argv[1]).write_text(render(Path(argv[0])))
    print("\n".join(trainer_step_table(Path(argv[0])) + floor_table(Path(argv[0])) + input_tables(Path(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

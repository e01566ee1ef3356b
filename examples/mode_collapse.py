"""EBGAN, EBGAN-PT and the logistic GAN on a 2-D Gaussian mixture, over several seeds.

    python examples/mode_collapse.py                                   # grid25, seeds 0 1 2
    python examples/mode_collapse.py --seeds 0 1 2 3 4 --jobs 2 --out runs/grid25-modes

Every family trains the same generator for the same steps, batch size and learning rates from
the config; the GAN's discriminator is as deep and wide as the EBGANs' auto-encoder. Each run is
an ordinary `energan train` run scored by the mode_coverage metric; the table of modes covered
and high-quality share (within 3σ of a mode) goes to OUT/report.md. Running it again skips
finished runs and resumes interrupted ones.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown


def family_arguments(config: dict) -> dict[str, list[str]]:
    """`energan train` flags of each family on top of the config (EBGAN-PT keeps its PT weight)."""
    energy = config.get("energy", {})
    same_size = [f"energy.{key}={energy[key]}" for key in ("n_layers", "size") if key in energy]
    return {
        "ebgan": ["--reg", "none"],
        "ebgan-pt": ["--reg", "pullaway"],
        "gan": ["--loss", "logistic", "--energy", "mlp", "--reg", "none", *(f"--set={item}" for item in same_size)],
    }


def final_evaluation(run: Path) -> dict | None:
    """The last evaluation in a run's metrics file, or None before the first one."""
    metrics = run / "metrics.jsonl"
    if not metrics.exists():
        return None
    evaluations = [json.loads(line) for line in metrics.read_text().splitlines() if '"kind": "eval"' in line]
    return evaluations[-1] if evaluations else None


def train(energan: str, config: Path, run: Path, steps: int, flags: list[str], seed: int, threads: int) -> dict:
    """Train (or resume, or skip) one run; its final mode-coverage evaluation."""
    last = final_evaluation(run)
    if last is None or last["step"] < steps:
        if (run / "checkpoints" / "last.pt").exists():
            command = [energan, "train", "--resume", str(run)]
        else:
            command = [energan, "train", "--config", str(config), *flags, "--seed", str(seed),
                       "--set", f"runs_dir={run.parent}", "--name", run.name]
        environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        with open(run.parent / f"{run.name}.log", "a") as log:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=environment, check=True)
        last = final_evaluation(run)
    if last is None or "modes_covered" not in last:
        raise RuntimeError(f"{run}: no mode_coverage evaluation; is [metrics.mode_coverage] in the config?")
    return last


def report(results: dict[str, dict[int, dict]], config: Path, steps: int) -> str:
    seeds = sorted(next(iter(results.values())))
    modes_total = int(next(iter(next(iter(results.values())).values()))["modes_total"])
    lines = [
        f"Mode coverage on `{config}` after {steps} steps, seeds {', '.join(map(str, seeds))}.",
        "",
        "| family | modes covered (per seed) | mean | high-quality share (per seed) | mean |",
        "|---|---|---|---|---|",
    ]
    for family, by_seed in results.items():
        modes = [int(by_seed[seed]["modes_covered"]) for seed in seeds]
        quality = [by_seed[seed]["high_quality_share"] for seed in seeds]
        lines.append(
            f"| {family} | {' / '.join(map(str, modes))} of {modes_total} | {statistics.mean(modes):.1f} "
            f"| {' / '.join(f'{q:.3f}' for q in quality)} | {statistics.mean(quality):.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=Path(__file__).parent / "configs" / "grid25.toml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--families", nargs="+", default=["ebgan", "ebgan-pt", "gan"], choices=["ebgan", "ebgan-pt", "gan"])
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (each gets cores ÷ jobs threads)")
    parser.add_argument("--out", type=Path, default=Path("runs/mode-collapse"))
    args = parser.parse_args()

    energan = shutil.which("energan")
    if energan is None:
        parser.error("the energan command is not on PATH; install energan (pip install -e .) first")
    config = tomllib.loads(args.config.read_text())
    steps = config.get("steps", 6000)
    flags = family_arguments(config)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(family, seed) for family in args.families for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {
            job: pool.submit(train, energan, args.config, args.out / f"{job[0]}-seed{job[1]}", steps, flags[job[0]], job[1], threads)
            for job in jobs
        }
        results = {family: {seed: futures[family, seed].result() for seed in args.seeds} for family in args.families}
    text = report(results, args.config, steps)
    (args.out / "report.md").write_text(text)
    Console().print(Markdown(text))
    print(f"written: {args.out / 'report.md'}")


if __name__ == "__main__":
    main()

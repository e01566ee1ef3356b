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

from energan.config import TrainSettings
from energan.default_plugins.autoencoder import AutoEncoderParams
from energan.sweep.families import load_family

FAMILIES = ("ebgan", "ebgan-pt", "gan")  # shipped configs (sweep families): each run takes their energy, loss and regularizers


def family_arguments(config: dict) -> dict[str, list[str]]:
    """`energan train` flags of each family (the sweep's families) on top of the config. A
    component the config already names keeps its parameters (EBGAN-PT its PT weight); another
    energy gets the auto-encoder's depth and width."""
    energy = config.get("energy", {})
    same_size = [f"--set=energy.{key}={energy.get(key, getattr(AutoEncoderParams(), key))}" for key in ("n_layers", "size")]
    flags = {}
    for family in FAMILIES:
        tables = load_family(family).config
        regularizers = [item for name in (tables.get("reg") or ["none"]) for item in ("--reg", name)]
        flags[family] = ["--energy", tables["energy"]["name"], "--loss", tables["loss"]["name"], *regularizers]
        if tables["energy"]["name"] != energy.get("name"):
            flags[family] += same_size
    return flags


class RunFailed(Exception):
    """One training did not reach its final evaluation."""


def final_evaluation(run: Path) -> dict | None:
    """The last evaluation in a run's metrics file, or None before the first one."""
    metrics = run / "metrics.jsonl"
    if not metrics.exists():
        return None
    records = (json.loads(line) for line in metrics.read_text().splitlines() if line.strip())
    evaluations = [record for record in records if record.get("kind") == "eval"]
    return evaluations[-1] if evaluations else None


def train(energan: str, config: Path, run: Path, steps: int, flags: list[str], seed: int, threads: int) -> dict:
    """Train (or resume, or skip) one run; its mode-coverage evaluation at the final step."""
    last = final_evaluation(run)
    log = run.parent / f"{run.name}.log"
    if last is None or last["step"] < steps:
        if (run / "checkpoints" / "last.pt").exists():
            command = [energan, "train", "--resume", str(run), "--steps", str(steps)]
        else:
            command = [
                energan,
                "train",
                "--config",
                str(config),
                *flags,
                "--seed",
                str(seed),
                "--set",
                f"runs_dir={run.parent}",
                "--name",
                run.name,
            ]
        environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        with open(log, "a") as stream:
            subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, env=environment)
        last = final_evaluation(run)
    if last is None or last["step"] < steps or "modes_covered" not in last:
        reached = "no evaluation" if last is None else f"last evaluation at step {last['step']}"
        raise RunFailed(f"{run} stopped before its mode_coverage at step {steps} ({reached}); see {log}")
    return last


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def report(results: dict[str, dict[int, dict]], config: Path, steps: int) -> str:
    """A markdown table: modes covered and high-quality share per family, per seed and on average."""
    seeds = sorted(next(iter(results.values())))
    modes_total = int(next(iter(next(iter(results.values())).values()))["modes_total"])
    lines = [
        f"Mode coverage on `{_shown(config)}` after {steps} steps, seeds {', '.join(map(str, seeds))}.",
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
    """Train every family × seed (``--jobs`` at a time), then write and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=Path(__file__).parent / "configs" / "grid25.toml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (each gets cores ÷ jobs threads)")
    parser.add_argument("--out", type=Path, default=Path("runs/mode-collapse"))
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: must be ≥ 1")
    energan = shutil.which("energan")
    if energan is None:
        parser.error("the energan command is not on PATH; install energan (pip install -e .) first")
    config = tomllib.loads(args.config.read_text())
    steps = config.get("steps", TrainSettings().steps)
    flags = family_arguments(config)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    seeds, families = list(dict.fromkeys(args.seeds)), list(dict.fromkeys(args.families))
    args.out.mkdir(parents=True, exist_ok=True)
    pool = ThreadPoolExecutor(args.jobs)
    try:
        futures = {
            (family, seed): pool.submit(train, energan, args.config, args.out / f"{family}-seed{seed}", steps, flags[family], seed, threads)
            for family in families
            for seed in seeds
        }
        results = {family: {seed: futures[family, seed].result() for seed in seeds} for family in families}
    except RunFailed as error:
        pool.shutdown(cancel_futures=True)
        raise SystemExit(f"mode_collapse: {error}") from None
    except BaseException:  # Ctrl-C: no queued training starts; the running ones stop with the terminal's signal
        pool.shutdown(cancel_futures=True)
        raise
    pool.shutdown()
    text = report(results, args.config, steps)
    (args.out / "report.md").write_text(text)
    Console().print(Markdown(text))
    print(f"written: {args.out / 'report.md'}")


if __name__ == "__main__":
    main()

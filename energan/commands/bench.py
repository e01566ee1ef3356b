"""``energan bench``: run the benchmark suites and write a JSON file and a markdown table."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

SUITES = Path(__file__).resolve().parents[2] / "benchmarks"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("bench", help="run the benchmark suites (pytest-benchmark)")
    parser.add_argument("--output", type=Path, default=Path("bench-results"), help="directory for results.json/.md")
    parser.add_argument("--quick", action="store_true", help="small shapes only, each case once (a smoke run)")
    parser.add_argument("-k", dest="select", help="pytest -k expression selecting cases")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from energan.errors import ConfigError

    if not SUITES.is_dir():
        raise ConfigError(f"benchmark suites not found at {SUITES}; run `energan bench` from a source checkout")
    args.output.mkdir(parents=True, exist_ok=True)
    results = args.output / "results.json"
    command = [sys.executable, "-m", "pytest", str(SUITES), "-q", "-p", "no:cacheprovider", f"--benchmark-json={results}"]
    if args.select:
        command += ["-k", args.select]
    if args.quick:
        command += ["-m", "not slow", "--benchmark-disable"]
    code = subprocess.call(command, cwd=SUITES.parent)
    if code != 0 or args.quick:
        return code
    return subprocess.call([sys.executable, "-m", "benchmarks.report", str(results), str(args.output / "results.md")], cwd=SUITES.parent)

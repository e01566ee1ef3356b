"""``energan bench``: run the benchmark suites and write a JSON file and a markdown table.

The suites live in the source tree's ``benchmarks/`` and ship in the wheel as the package
``energan.benchmarks`` (setup.py maps one onto the other; an editable install maps it back).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import resources
from pathlib import Path

from energan.errors import EnerganError

SUITES = "energan.benchmarks"
CHECKOUT_SUITES = Path(__file__).resolve().parents[2] / "benchmarks"  # energan imported from a checkout, not installed


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("bench", help="run the benchmark suites (pytest-benchmark)")
    parser.add_argument("--output", type=Path, default=Path("bench-results"), help="directory for results.json/.md")
    parser.add_argument("--quick", action="store_true", help="small shapes only, each case once (a smoke run)")
    parser.add_argument("-k", dest="select", help="pytest -k expression selecting cases")
    parser.set_defaults(handler=run)


def suites() -> Path:
    """The directory of the benchmark suites: installed, or the ``benchmarks/`` of the checkout
    that energan is imported from (a checkout on PYTHONPATH, not installed)."""
    try:
        return Path(str(resources.files(SUITES)))
    except ModuleNotFoundError:
        if (CHECKOUT_SUITES / "report.py").is_file():
            return CHECKOUT_SUITES
        raise EnerganError(
            f"energan bench: the benchmark suites ({SUITES}) are not installed; pip install energan or pip install -e ."
        ) from None


def run(args: argparse.Namespace) -> int:
    from energan.extras import require

    require("pytest_benchmark", "bench", "energan bench needs pytest-benchmark")
    directory = suites()
    args.output.mkdir(parents=True, exist_ok=True)
    results = args.output / "results.json"
    command = [sys.executable, "-m", "pytest", str(directory), "-q", "-p", "no:cacheprovider", f"--benchmark-json={results}"]
    if args.select:
        command += ["-k", args.select]
    if args.quick:
        command += ["-m", "not slow", "--benchmark-disable"]
    code = subprocess.call(command)
    if code != 0 or args.quick:
        return code
    return subprocess.call([sys.executable, str(directory / "report.py"), str(results), str(args.output / "results.md")])

"""The commands in the README and docs/*.md are tests (Sybil collects their ``bash`` blocks), so a
doc that goes stale fails ``make test``.

Every ``energan`` command is parsed by the real parser (a flag, command or choice that no longer
exists fails). Every ``energan train`` command's config is built and resolved as the command
would (a component, parameter or value that no longer exists fails). The ``train`` commands that
need nothing CI lacks (no placeholder run or config, no data directory, no download, no GPU) and
compile nothing then train for two steps after their warm-up in a temporary runs directory, on
the 8×8 digits where they take the default data; ``~/data/celeba`` stands for a generated folder
of CelebA-sized JPEGs, so the image path's commands (``energan prepare``, training on a folder)
run as written. A ``train --dry-run`` trains nothing and takes seconds: it runs, shipped configs
included, unless it reads a data directory CI lacks.
``energan sweep`` commands have their grid and families loaded. ``python examples/...`` commands name files that exist.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import shlex
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sybil import Example, Sybil
from sybil.parsers.markdown import CodeBlockParser

if TYPE_CHECKING:
    from energan.config import TrainConfig

ROOT = Path(__file__).parent
NOT_RUN = (
    "~",
    "$",
    "--download",
    "cuda",
    "amp=",
    "postgresql",
    "torchrun",
    "compile=true",
    "/shared/",
)  # what CI lacks (a cluster's shared filesystem among it); minutes of compiling


def shell_commands(source: str) -> Iterator[str]:
    """The commands of a shell block: continuation lines joined, comments and blank lines dropped."""
    joined = source.replace("\\\n", " ")
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            yield shlex.join(words)


def energan_argv(command: str) -> list[str] | None:
    """The arguments after ``energan`` (also under ``torchrun ... --no-python energan``), else None."""
    words = shlex.split(command)
    while words and "=" in words[0] and not words[0].startswith("-"):  # VAR=value prefixes
        words = words[1:]
    if "energan" not in words:
        return None
    first = words.index("energan")
    return words[first + 1 :] if first == 0 or words[0] == "torchrun" else None


@contextlib.contextmanager
def quiet_exit() -> Iterator[io.StringIO]:
    """argparse's error message, captured, and its SystemExit turned into an assertion."""
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        try:
            yield errors
        except SystemExit as stop:
            if stop.code not in (0, None):
                raise AssertionError(f"the command does not parse: {errors.getvalue().strip()}") from None


def parse(argv: list[str]) -> argparse.Namespace | None:
    """The namespace ``energan`` would run (None for --help/--version, which exit)."""
    from energan.cli import build_parser
    from energan.plugins import load_plugins

    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("-p", dest="plugins", action="append", default=[])
    known, _ = early.parse_known_args(argv)
    plugins = load_plugins(known.plugins)
    with quiet_exit():
        args = build_parser(plugins).parse_args(argv)
        args.loaded_plugins = plugins
        return args
    return None


def check_train(args: argparse.Namespace, command: str) -> None:
    """Resolve the command's config; train it for a few steps when nothing it needs is missing."""
    from energan.commands.train import config_from_args
    from energan.config import ComponentChoice, TrainConfig, resolve
    from energan.kinds import DATASET
    from energan.trainer import train

    if args.resume or (args.config and not args.config.is_file()):
        return  # a placeholder run or config file: the flags were parsed, there is nothing to resolve
    config = config_from_args(args)
    resolve(config, args.loaded_plugins.registries)
    if args.dry_run:
        check_dry_run(args, config, command)
        return
    if any(marker in command for marker in NOT_RUN):
        return
    if not any(choice in command for choice in ("--data", "--config", "data.")):  # the default data: the 8×8 digits are faster
        config = TrainConfig(config.settings, **{**config.components, DATASET.key: ComponentChoice("digits")}, **config.tables)
    with tempfile.TemporaryDirectory() as runs_dir:
        short = config.replace_settings(
            steps=max(config.settings.warmup_steps, 0) + 2, eval_every=0, checkpoint_every=1000, runs_dir=runs_dir, name="doc"
        )
        run = train(short, plugins=args.loaded_plugins)
        assert run.status == "finished", f"{command}: the run ended {run.status}"


def check_dry_run(args: argparse.Namespace, config: TrainConfig, command: str) -> None:
    """Print the command's plan (parameters, FLOPs, peak memory), unless it names a data directory."""
    from energan.plan_report import dry_run

    if any(marker in command for marker in ("~", "$")):
        return
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert dry_run(config, args.loaded_plugins, args.dry_run) == 0, f"{command}: the dry run failed"
    assert printed.getvalue().strip(), f"{command}: the dry run printed nothing"


def check_sweep(args: argparse.Namespace) -> None:
    from energan.sweep.families import load_family
    from energan.sweep.grids import load_grid

    load_grid(args.grid)
    for family in args.family:
        load_family(family)


def evaluate_shell_block(example: Example) -> None:
    with contextlib.chdir(ROOT):  # the docs' paths are relative to the checkout
        for command in shell_commands(example.parsed):
            check_command(command)


PHOTOS = "~/data/celeba"  # in the docs' commands: the generated CelebA-like folder below
PHOTO_COUNT = 600  # more than the 500 images the folder dataset holds out by default, plus a batch of 64


@functools.cache
def photo_folder() -> Path:
    """Generated JPEGs of CelebA's size (178 × 218, quality 95) standing in for ``~/data/celeba``:
    no real photo set can be downloaded where the tests run."""
    from energan.benchmarks.photo_folders import write_photo_folder

    return write_photo_folder(Path(tempfile.mkdtemp(prefix="energan-docs-celeba-")), "celeba", PHOTO_COUNT)


@pytest.fixture(autouse=True, scope="session")
def docs_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """What the docs' commands prepare and fit goes to a temporary cache, never the user's."""
    os.environ["ENERGAN_CACHE_DIR"] = str(tmp_path_factory.mktemp("docs-cache"))


def check_command(command: str) -> None:
    """One command of a block, as the module docstring says; ``~/data/celeba`` is a generated
    folder of CelebA-sized JPEGs, so the image path's commands run as written."""
    if PHOTOS in command:
        command = command.replace(PHOTOS, str(photo_folder()))
    words = shlex.split(command)
    if words[:1] == ["python"] and len(words) > 1 and words[1].startswith("examples/"):
        assert (ROOT / words[1]).is_file(), f"{command}: no file {words[1]}"
        return
    argv = energan_argv(command)
    args = parse(argv) if argv is not None else None  # make, pip, git, sbatch: not energan's to check
    if args is not None and args.command == "train":
        check_train(args, command)
    elif args is not None and args.command == "sweep":
        check_sweep(args)
    elif args is not None and args.command == "prepare" and not any(marker in command for marker in NOT_RUN):
        assert args.handler(args) == 0, f"{command}: the preparation failed"


pytest_collect_file = Sybil(
    parsers=[CodeBlockParser(language="bash", evaluator=evaluate_shell_block)],
    patterns=["README.md", "docs/*.md"],
    excludes=["docs/results/*", "docs/results/*/*"],  # the studies' records: hours of sweeps, kept as they were run
).pytest()

"""The built-in ``energan`` subcommands: each module has ``add_parser(commands)`` and a handler."""

import argparse


def add_set_option(parser: argparse.ArgumentParser, help: str, metavar: str = "KEY=VALUE") -> None:
    """``--set KEY=VALUE``, repeatable, into ``args.overrides``: the one declaration every command
    that takes overrides shares (their values go through :func:`energan.config.apply_overrides`)."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar=metavar, help=help)

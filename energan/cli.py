"""The ``energan`` command line: loads plugins, then dispatches to a subcommand.

``--help`` and ``plugins`` never import torch: command handlers import what they use.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from energan import __version__
from energan.commands import bench, evaluate, lab, plot, plugins_list, prepare, report, sample, score, sweep, train
from energan.errors import EnerganError
from energan.plugins import Plugins, PluginWarning, load_plugins
from energan.version import VersionAction

BUILTIN_COMMANDS = (train, prepare, plugins_list, evaluate, sample, score, plot, bench, lab, sweep, report)


def _plugin_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-p",
        dest="plugins",
        action="append",
        default=[],
        metavar="NAME",
        help="load a plugin module or entry point; -p no:NAME blocks plugin NAME",
    )
    parser.add_argument("--strict-plugins", action="store_true", help="a plugin that fails to load is an error")


def build_parser(plugins: Plugins) -> argparse.ArgumentParser:
    """The full parser: global options, built-in commands and the commands plugins add."""
    parser = argparse.ArgumentParser(prog="energan", description="Energy-Based GANs with plugins.")
    parser.add_argument("--version", action=VersionAction, version=f"energan {__version__}", plugins=plugins)
    _plugin_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in BUILTIN_COMMANDS:
        command.add_parser(commands)
    for impl in plugins.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=commands)
        except Exception as error:  # a broken plugin must not take the CLI down
            warnings.warn(
                f"plugin {impl.plugin_name!r} was skipped: its register_commands hook raised {error!r}", PluginWarning, stacklevel=2
            )
    return parser


def _one_line_warnings(message, category, filename, lineno, line=None) -> str:
    return f"energan: warning: {message}\n"


def describe_os_error(error: OSError) -> str:
    """One line for a file-system error: what happened, to which path (files written so far are
    intact: every checkpoint and config is written atomically)."""
    reason = error.strerror or type(error).__name__
    paths = [str(path) for path in (error.filename, error.filename2) if path is not None]
    return f"{reason}: {' → '.join(paths)}" if paths else f"{reason} ({error})"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.formatwarning = _one_line_warnings
    early = argparse.ArgumentParser(add_help=False)
    _plugin_options(early)
    known, _ = early.parse_known_args(argv)
    try:
        plugins = load_plugins(known.plugins, strict=known.strict_plugins)
        args = build_parser(plugins).parse_args(argv)
        args.loaded_plugins = plugins
        return args.handler(args) or 0
    except EnerganError as error:
        print(f"energan: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a full disk, a read-only or missing directory, a name too long, ...
        print(f"energan: error: {describe_os_error(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("energan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``energan --version``: energan's version and what a bug report needs to know about the machine.

The report is built only when asked for, so building the parser (``energan --help``) never
imports torch; Triton's version is read from its metadata, never imported.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import sys
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from energan.plugins import Plugins


def torch_lines() -> list[str]:
    """torch's version, and whether it sees CUDA (with the name of each device it sees)."""
    import torch

    if torch.version.cuda is None:
        cuda = "CUDA: not available (a CPU build of torch)"
    elif not torch.cuda.is_available():
        cuda = f"CUDA: not available (torch built with CUDA {torch.version.cuda})"
    else:
        devices = ", ".join(torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count()))
        cuda = f"CUDA {torch.version.cuda}: available ({devices})"
    return [f"torch {torch.__version__}", cuda]


def triton_line() -> str:
    try:
        return f"triton {importlib.metadata.version('triton')}"
    except importlib.metadata.PackageNotFoundError:
        return "triton: not installed"


def plugin_lines(plugins: Plugins) -> list[str]:
    """The loaded plugins' names, one line per distribution and version."""
    groups: dict[str, list[str]] = defaultdict(list)
    for info in plugins.info():
        origin = f"{info.distribution} {info.version or '(version unknown)'}" if info.distribution else "no distribution"
        groups[origin].append(info.name)
    return [f"plugins ({origin}): {', '.join(names)}" for origin, names in groups.items()]


def report(version: str, plugins: Plugins) -> str:
    """``version``, then Python, torch, CUDA, Triton and the loaded plugins, one per line."""
    lines = [
        version,
        f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.platform()}",
        *torch_lines(),
        triton_line(),
        *plugin_lines(plugins),
    ]
    return "\n".join(lines) + "\n"


class VersionAction(argparse.Action):
    """``--version``: print :func:`report` and exit (torch is imported only then)."""

    def __init__(
        self,
        option_strings: Sequence[str],
        version: str,
        plugins: Plugins,
        dest: str = argparse.SUPPRESS,
        help: str = "show the versions of energan, Python, torch, CUDA, Triton and the plugins, and exit",
    ) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)
        self.version = version
        self.plugins = plugins

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: str | None = None
    ) -> None:
        sys.stdout.write(report(self.version, self.plugins))
        parser.exit()

"""Optional parts of energan: each is installed by an extra, ``pip install 'energan[EXTRA]'``."""

from __future__ import annotations

import importlib
from types import ModuleType

from energan.errors import MissingExtraError


def missing(extra: str, what: str) -> MissingExtraError:
    """The one-line error for ``what`` (``energan sweep needs Optuna``), naming the extra to install."""
    return MissingExtraError(f"{what}: pip install 'energan[{extra}]'")


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module``, or raise the one-line error naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise missing(extra, what) from None

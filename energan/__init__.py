"""energan: Energy-Based GANs with plugins for energies, losses and regularizers.

Importing ``energan`` is cheap; the torch-backed names load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from energan.hookspecs import hookimpl
from energan.plugins import load_plugins

__version__ = "0.1.0"

_LAZY = {
    "EnergyOutput": "energan.components",
    "Energy": "energan.components",
    "Loss": "energan.components",
    "SeparableLoss": "energan.components",
    "Regularizer": "energan.components",
    "RegularizerInputs": "energan.components",
    "ImageData": "energan.data",
    "TrainConfig": "energan.config",
    "train": "energan.trainer",
}

__all__ = ["__version__", "hookimpl", "load_plugins", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'energan' has no attribute {name!r}")

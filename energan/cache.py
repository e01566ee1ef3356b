"""Where energan caches things it trains once (dataset classifiers)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$ENERGAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/energan``, else ``~/.cache/energan``."""
    if explicit := os.environ.get("ENERGAN_CACHE_DIR"):
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "energan"

"""The random streams of a run, each seeded from the run's ``seed`` by its own offset, in one table:
a new stream takes a new offset here, so no two streams ever share a seed."""

from __future__ import annotations

import enum


class Stream(enum.IntEnum):
    """Offsets added to ``settings.seed``. (The batch order is seeded apart, per epoch, by the batch
    stream: ``seed · 1 000 003 + epoch``, energan.data.)"""

    WEIGHTS = 0  # torch's global generator while the networks are built: the initial weights
    LATENTS = 1  # the z of every training batch
    SAMPLES = 2  # the fixed z of the sample grids, and energan sample's default
    AUGMENT = 3  # the translations of the images the energy sees


def stream_seed(seed: int, stream: Stream) -> int:
    """The seed of ``stream`` in a run seeded with ``seed``."""
    return seed + stream

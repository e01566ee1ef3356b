"""Fully connected bodies, with the knobs of the EBGAN paper's MNIST grid (Table 1)."""

from __future__ import annotations

import itertools

from torch import nn


def mlp(
    widths: list[int],
    *,
    batch_norm: bool = False,
    dropout: float = 0.0,
    activation: type[nn.Module] = nn.ReLU,
    final_activation: nn.Module | None = None,
) -> nn.Sequential:
    """Linear layers through ``widths``; hidden layers get [BN,] activation [, dropout]."""
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(itertools.pairwise(widths)):
        hidden = index < len(widths) - 2
        layers.append(nn.Linear(width_in, width_out, bias=not (hidden and batch_norm)))  # batch-norm cancels a bias
        if hidden:
            if batch_norm:
                layers.append(nn.BatchNorm1d(width_out))
            layers.append(activation())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    if final_activation is not None:
        layers.append(final_activation)
    return nn.Sequential(*layers)

"""The component kinds, one record each: everything that speaks of a kind is derived from it.

A record names the kind (``energy``), its plural (the registry, ``registries.energies``, and the
registration hook, ``register_energies``), its key in a config (``[energy]``, ``--set
energy.size=512``), its ``energan train`` flag, its default, whether a run takes one component of
it or several by name (``[reg.pullaway]``), the context its factories receive, and the protocol
what they build must follow, checked once, when the component is built.

Adding a kind is adding a record to :data:`KINDS`: its hook, registry, config table, flag and
``energan plugins`` listing follow (``tests/test_kinds.py`` does exactly that).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from typing import Any

from energan.errors import PluginError


@dataclasses.dataclass(frozen=True)
class ComponentKind:
    """One kind of component: where it is registered, configured and chosen, and what it builds."""

    name: str  # singular, in messages: "unknown energy 'x'"
    plural: str  # the registry (``registries.energies``) and the hook (``register_energies``)
    key: str  # the config table and ``--set`` prefix: ``[energy]``, ``[reg.NAME]``
    flag: str  # ``energan train --energy NAME`` (``--reg NAME``, repeatable, for a kind of several)
    protocol: str  # what a factory returns, as "module:Name", imported when a component is first built (not at --help)
    default: tuple[str, ...]  # the component chosen when a config names none (several for ``many``)
    summary: str  # what a component of this kind is, for the hook's documentation
    context: str = "none"  # the keyword arguments every factory receives besides its parameters
    many: bool = False  # a run takes several, by name (``[reg.pullaway]``), instead of exactly one

    @property
    def hook(self) -> str:
        """The registration hook plugins implement: ``register_<plural>``."""
        return f"register_{self.plural}"

    def check(self, component: str, built: Any) -> Any:
        """``built`` itself when it follows this kind's protocol, else a one-line error naming it."""
        if not isinstance(built, _imported(self.protocol)):
            name = self.protocol.replace(":", ".")
            raise PluginError(f"{self.name} {component!r} built a {type(built).__name__}, which does not follow {name}")
        return built


@functools.cache
def _imported(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


ENERGY = ComponentKind(
    "energy",
    "energies",
    "energy",
    "energy",
    "torch.nn:Module",
    ("autoencoder",),
    "energy functions s(x): low on data, high on generated samples. The factory returns an nn.Module whose "
    "forward maps a batch [B, C, H, W] to an energan.components.EnergyOutput, or simply to a tensor of shape [B] "
    "(it is then wrapped and exposes no code); an optional ``energy_range`` attribute gives the interval s(x) spans",
    context="``shape`` (C, H, W) of the images",
)
LOSS = ComponentKind(
    "loss",
    "losses",
    "loss",
    "loss",
    "energan.components:LossProtocol",
    ("margin",),
    "losses: objects with ``discriminator(s_real, s_fake)`` and ``generator(s_fake)``. Subclass "
    "energan.components.SeparableLoss to state the loss as pointwise penalties ℓ_real, ℓ_fake and the generator's f "
    "(the lab uses them), or energan.components.Loss for a loss with state",
)
REGULARIZER = ComponentKind(
    "regularizer",
    "regularizers",
    "reg",
    "reg",
    "energan.components:RegularizerProtocol",
    (),
    "regularizers: energan.components.Regularizer instances. Each declares its ``side`` (discriminator or "
    "generator) and ``weight``; the trainer adds ``weight * reg(inputs)`` to that side's loss",
    many=True,
)
GENERATOR = ComponentKind(
    "generator",
    "generators",
    "generator",
    "generator",
    "energan.components:GeneratorModule",
    ("mlp",),
    "generators: an nn.Module mapping z [B, latent_dim] to images [B, C, H, W], with an int attribute ``latent_dim``",
    context="``shape`` (C, H, W) of the images",
)
DATASET = ComponentKind(
    "dataset",
    "datasets",
    "data",
    "data",
    "energan.data:ImageData",
    ("mnist5k",),
    "datasets: the factory returns an energan.data.ImageData",
    context="``data_dir`` (a path or None, from ``--data-dir``)",
)
METRIC = ComponentKind(
    "metric",
    "metrics",
    "metrics",
    "metric",
    "energan.components:Metric",
    ("inception_score",),
    "metrics: energan.components.Metric objects (``name``, ``higher_is_better``, ``requires``, ``prepare(data)``, "
    "``evaluate(generate, data, final)``). ``generate(n)`` returns n generated images in [-1, 1]; ``final`` is True "
    "at a run's last evaluation and in ``energan evaluate`` (a metric may score fewer samples during training)",
    many=True,
)

OUTLIER_SET = ComponentKind(
    "outlier set",
    "outlier_sets",
    "outliers",
    "outliers",
    "energan.components:OutlierSet",
    ("uniform", "gaussian", "samples", "inverted", "rotated", "shifted", "blurred"),
    "outlier sets: energan.components.OutlierSet objects, whose ``images(heldout, generate, rng)`` returns images "
    "a detector should tell from the held-out ones; the ``ood`` metric scores the energy's AUROC against each",
    context="``datasets``: a registered dataset by name, with its default parameters (for sets of other data)",
    many=True,
)

KINDS: tuple[ComponentKind, ...] = (ENERGY, LOSS, REGULARIZER, GENERATOR, DATASET, METRIC, OUTLIER_SET)


def by_key(key: str) -> ComponentKind | None:
    """The kind whose config table is ``key`` (``energy``, ``reg``), or None."""
    return next((kind for kind in KINDS if kind.key == key), None)

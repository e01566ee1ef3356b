"""The component types the trainer works with: energies, losses, regularizers, metrics.

Convention: **low energy = real**. Every loss speaks about one scalar s per sample.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from energan.data import DataSource
from energan.errors import ConfigError

Side = Literal["discriminator", "generator"]


@dataclasses.dataclass
class EnergyOutput:
    """What an energy returns for a batch: s [B], and optionally the code [B, K] and reconstruction."""

    energy: Tensor
    code: Tensor | None = None
    reconstruction: Tensor | None = None

    def split(self, size: int) -> tuple[EnergyOutput, EnergyOutput]:
        """The outputs of the first ``size`` samples and of the rest (views, gradients flow through)."""
        fields = [(name, getattr(self, name)) for name in ("energy", "code", "reconstruction")]
        first = {name: None if value is None else value[:size] for name, value in fields}
        rest = {name: None if value is None else value[size:] for name, value in fields}
        return EnergyOutput(**first), EnergyOutput(**rest)


class Energy(nn.Module, abc.ABC):
    """Base for energies whose forward returns an :class:`EnergyOutput`.

    ``energy_range`` (optional) is the interval s(x) can take: a loss defined only on part of
    the real line (the margin loss: s ≥ 0) refuses an energy whose range exceeds it.
    ``per_sample`` declares that the forward's own computation treats each sample alone (no
    statistics or comparisons across the batch); the trainer then scores a step's real and
    generated batches in one forward, unless a layer inside couples them (see :func:`scores_alone`).
    """

    energy_range: tuple[float, float] | None = None  # None: not declared
    per_sample: bool = False

    @abc.abstractmethod
    def forward(self, x: Tensor) -> EnergyOutput: ...


class PlainEnergy(Energy):
    """Wraps a module that returns a plain [B] tensor into an energy with no code (and the
    ``energy_range`` the module declares, if it declares one)."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.energy_range = getattr(body, "energy_range", None)

    def forward(self, x: Tensor) -> EnergyOutput:
        energy = self.body(x)
        if energy.shape != (x.shape[0],):
            raise ConfigError(
                f"energy {type(self.body).__name__} returned shape {tuple(energy.shape)}; expected [{x.shape[0]}], one energy per sample"
            )
        return EnergyOutput(energy=energy)


def scores_alone(energy: nn.Module) -> bool:
    """Whether a training forward of ``energy`` gives each sample the output it would get alone, so
    that real and generated batches may share one forward: the energy declares ``per_sample`` and
    holds no batch-norm (batch statistics) and no parametrization (spectral norm's power iteration
    advances once per forward), and no part that declares ``per_sample = False`` itself."""
    parts = [module for module in energy.modules() if module is not energy]
    coupled = any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) or parametrize.is_parametrized(m) or getattr(m, "per_sample", True) is False
        for m in parts
    )
    return getattr(energy, "per_sample", False) and not coupled


def as_energy(module: nn.Module) -> Energy:
    """``module`` itself if it is an :class:`Energy`, otherwise wrapped in :class:`PlainEnergy`."""
    return module if isinstance(module, Energy) else PlainEnergy(module)


@dataclasses.dataclass(frozen=True)
class UpdateContext:
    """Where the energy step that a stateful loss is updated after stands in training."""

    step: int  # the training step's index (each of its ``d_steps`` energy steps updates once)
    epoch_end: bool  # this energy step's real batch is the last of an epoch of the training data
    warming_up: bool  # an auto-encoder warm-up step: the energy trained on real data alone, the loss unused


class Loss(abc.ABC):
    """A GAN-type objective on per-sample energies: the inner (D) and outer (G) loop losses.

    A loss may own state (BEGAN's k_t, MAGAN's margin): ``update`` changes it after every energy
    step, ``state_dict`` / ``load_state_dict`` carry it through checkpoints, ``diagnostics`` logs it.
    ``auto_warmup_steps`` is the warm-up the loss asks for when ``warmup_steps = -1`` (auto), at most
    a tenth of the run; None: the trainer's own (energan.assemble.with_warmup). ``domain`` is the
    interval the discrepancy s may take (the margin loss's: s ≥ 0); an energy whose range exceeds
    it is refused.
    """

    auto_warmup_steps: int | None = None
    domain: tuple[float, float] = (-math.inf, math.inf)

    @abc.abstractmethod
    def discriminator(self, s_real: Tensor, s_fake: Tensor) -> Tensor:
        """The energy's loss on a batch of real and a batch of generated samples."""

    @abc.abstractmethod
    def generator(self, s_fake: Tensor) -> Tensor:
        """The generator's loss on the energies of its samples."""

    def diagnostics(self, s_real: Tensor, s_fake: Tensor) -> dict[str, Tensor]:
        """Scalars that show how the loss is working (logged, never differentiated); none by default."""
        return {}

    def update(self, s_real: Tensor, s_fake: Tensor, context: UpdateContext) -> None:  # noqa: B027 - optional, a no-op by default
        """Update the loss's state from an energy step's detached energies (warm-up steps included).

        Called after every energy step; keep the state on the device (tensor arithmetic, no
        ``.item()``), so training never waits for it. A stateless loss does nothing.
        """

    def state_dict(self) -> dict[str, Any]:
        """The loss's state for the checkpoint: tensors, numbers and dicts of them; none by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional, a no-op by default
        """Restore what ``state_dict`` returned (its tensors come back on the CPU); nothing by default."""


class SeparableLoss(Loss):
    """A loss stated pointwise: E_P ℓ_real(s) + E_Q ℓ_fake(s) for D, E_Q f(s) for G.

    Its ``domain`` (EBGAN's reconstruction energies are ≥ 0) is also where the inner loop's
    pointwise optimum is taken.
    """

    @abc.abstractmethod
    def real_penalty(self, s: Tensor) -> Tensor:
        """ℓ_real(s), elementwise."""

    @abc.abstractmethod
    def fake_penalty(self, s: Tensor) -> Tensor:
        """ℓ_fake(s), elementwise."""

    @abc.abstractmethod
    def generator_penalty(self, s: Tensor) -> Tensor:
        """f(s), elementwise: the generator minimises E_Q f(s)."""

    def optimal_discrepancy(self, p: Tensor, q: Tensor) -> Tensor | None:
        """Closed-form argmin_s p·ℓ_real(s) + q·ℓ_fake(s) where one is known, else None."""
        return None

    def generator_penalties(self) -> dict[str, Callable[[Tensor], Tensor]]:
        """Every generator objective f this loss offers, by name (default: the one in use)."""
        return {"f": self.generator_penalty}

    def discriminator(self, s_real: Tensor, s_fake: Tensor) -> Tensor:
        return self.real_penalty(s_real).mean() + self.fake_penalty(s_fake).mean()

    def generator(self, s_fake: Tensor) -> Tensor:
        return self.generator_penalty(s_fake).mean()


@dataclasses.dataclass
class RegularizerInputs:
    """What a regularizer may look at: both batches and the energy's outputs on them."""

    energy: nn.Module
    real: Tensor | None
    fake: Tensor
    real_output: EnergyOutput | None
    fake_output: EnergyOutput


class Regularizer(abc.ABC):
    """A penalty added to one side's loss as ``weight * reg(inputs)``."""

    side: ClassVar[Side]

    def __init__(self, weight: float) -> None:
        self.weight = weight

    @abc.abstractmethod
    def __call__(self, inputs: RegularizerInputs) -> Tensor:
        """The unweighted penalty (a 0-dim tensor)."""


@runtime_checkable
class GeneratorModule(Protocol):
    """What every generator offers the trainer: an ``nn.Module`` mapping z [B, latent_dim] to images."""

    latent_dim: int

    def forward(self, z: Tensor) -> Tensor: ...

    def parameters(self, recurse: bool = True) -> Any: ...


@runtime_checkable
class LossProtocol(Protocol):
    """What every loss offers the trainer (:class:`Loss` is the base with state, :class:`SeparableLoss` the pointwise one)."""

    def discriminator(self, s_real: Tensor, s_fake: Tensor) -> Tensor: ...

    def generator(self, s_fake: Tensor) -> Tensor: ...


class PlainLoss(Loss):
    """Wraps an object that offers only :class:`LossProtocol`'s two methods into a stateless
    :class:`Loss` (with the ``domain`` and ``auto_warmup_steps`` it declares, if it declares them)."""

    def __init__(self, body: LossProtocol) -> None:
        self.body = body
        self.domain = getattr(body, "domain", Loss.domain)
        self.auto_warmup_steps = getattr(body, "auto_warmup_steps", None)

    def discriminator(self, s_real: Tensor, s_fake: Tensor) -> Tensor:
        return self.body.discriminator(s_real, s_fake)

    def generator(self, s_fake: Tensor) -> Tensor:
        return self.body.generator(s_fake)


def as_loss(built: LossProtocol) -> Loss:
    """``built`` itself if it is a :class:`Loss`, otherwise wrapped in :class:`PlainLoss`."""
    return built if isinstance(built, Loss) else PlainLoss(built)


@runtime_checkable
class RegularizerProtocol(Protocol):
    """What every regularizer offers the trainer (:class:`Regularizer` is the base)."""

    side: Side
    weight: float

    def __call__(self, inputs: RegularizerInputs) -> Tensor: ...


@runtime_checkable
class Metric(Protocol):
    """A sample-quality score: what the sweep optimises and what ranks a run's checkpoints.

    ``name`` is the key of its headline value in ``evaluate``'s result (other keys report the
    protocol: sample count, spread, reference values); ``higher_is_better`` is its direction;
    ``requires`` names what it needs, checked before training starts: of the dataset, ``labels``
    (train and test labels), ``test_split`` (held-out images), ``modes`` (a mixture's modes); of
    the run, ``energy`` (the run's energy and outlier sets, handed over by :meth:`EnergyMetric.attach`).
    ``evaluate`` reads the dataset's images only through ``data.load()``, so a metric whose
    reference statistics are cached scores a saved model without its data. ``prepare`` builds
    those references once, before training or a sweep's workers start (a no-op for most metrics).
    """

    name: str
    higher_is_better: bool
    requires: frozenset[str]

    def prepare(self, data: DataSource) -> Any:
        """Build what ``evaluate`` needs of the dataset (a classifier, reference statistics), cached."""
        ...

    def evaluate(self, generate: Callable[[int], Tensor], data: DataSource, final: bool) -> dict[str, float]:
        """Values on ``generate(n)`` (n images in [-1, 1]); ``final`` at a run's last evaluation."""
        ...


@runtime_checkable
class OutlierSet(Protocol):
    """Images an energy of the data should find unusual, made to be compared with held-out images."""

    def images(self, heldout: Tensor, generate: Callable[[int], Tensor], rng: torch.Generator) -> Tensor:
        """At least ``len(heldout)`` outlier images, floats in [-1, 1] of ``heldout``'s [C, H, W]
        (``heldout``: held-out images, floats in [-1, 1]); ``generate(n)`` draws n of the run's
        samples, ``rng`` (on the CPU) seeds any noise."""
        ...


@dataclasses.dataclass(frozen=True)
class RunEnergy:
    """What a metric that requires ``energy`` receives once the run's model is built."""

    energy: nn.Module
    device: torch.device
    outlier_sets: dict[str, OutlierSet]  # the run's, by name ([outliers.NAME])


@runtime_checkable
class EnergyMetric(Metric, Protocol):
    """A metric of the run's energy itself (``"energy" in requires``): the trainer and ``energan
    evaluate`` attach the energy before the first evaluation."""

    def attach(self, run: RunEnergy) -> None:
        """Keep ``run`` for the evaluations that follow."""
        ...


def require_code(output: EnergyOutput, who: str) -> Tensor:
    """The energy's code, or a clear error for energies that expose none."""
    if output.code is None:
        raise ConfigError(f"{who} needs the energy's code, but this energy exposes none (its output has code=None)")
    return output.code


def finite(tensor: Tensor) -> Tensor:
    """A 0-dim bool tensor: is every element finite (no host sync)."""
    return torch.isfinite(tensor).all()

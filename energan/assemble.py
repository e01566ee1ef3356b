"""From a resolved config to a run's data and training state: nets, loss, regularizers, optimizers.

The trainer calls what this module builds directly: no plugin-manager call per step.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import torch
from torch import nn

from energan.augment import concrete_augment
from energan.components import Energy, Loss, OutlierSet, Side, as_loss
from energan.config import ResolvedConfig
from energan.data import ImageData
from energan.distributed import World
from energan.errors import ConfigError, DataError
from energan.kinds import DATASET, LOSS, OUTLIER_SET, REGULARIZER
from energan.model import Model, build_model, pick_device
from energan.plugins import Plugins
from energan.precision import Precision
from energan.state import TrainingState
from energan.streams import Stream, stream_seed

if TYPE_CHECKING:
    from timm.optim import OptimInfo  # timm is imported when an optimizer is made, not before


def load_data(config: ResolvedConfig, plugins: Plugins) -> ImageData:
    """The configured dataset; a ``data_dir`` that does not exist is an error."""
    data_dir = config.settings.data_dir or None
    if data_dir is not None and not Path(data_dir).is_dir():
        raise DataError(f"data directory {data_dir} does not exist or is not a directory")
    return check_splits(config.build(DATASET, plugins.registries, data_dir=data_dir))


def check_splits(data: ImageData) -> ImageData:
    """``data``, whose test split, if it has one, holds images of the training images' [C, H, W]
    (metrics and the held-out energy score one split against the other); an empty test split or
    another shape is a one-line error."""
    test = data.test_images
    if test is not None and not len(test):
        raise DataError(f"dataset {data.key!r}: its test split holds no images; valid: at least one test image")
    if test is not None and tuple(test.shape[1:]) != data.shape:
        raise DataError(
            f"dataset {data.key!r}: test images of shape {tuple(test.shape[1:])} differ from the training images' {data.shape}; "
            "valid: one [C, H, W] for both splits"
        )
    return data


def build_outlier_sets(config: ResolvedConfig, plugins: Plugins) -> dict[str, OutlierSet]:
    """The run's outlier sets ([outliers.NAME]); a set drawn from another dataset loads it by name,
    with that dataset's default parameters."""

    def dataset(name: str) -> ImageData:
        return check_splits(plugins.registries[DATASET].get(name).create({}, data_dir=None))

    return config.build_all(OUTLIER_SET, plugins.registries, datasets=dataset)


def make_optimizer(model: nn.Module, config: ResolvedConfig, name: str, lr: float) -> torch.optim.Optimizer:
    """timm's optimizer factory: any of its names; betas passed to the optimizers that take them.

    Where the optimizer has a fused kernel for the device (Adam, AdamW, SGD, Adagrad on the CPU),
    it is used: one pass over each parameter instead of a dozen element-wise ops, equal to the
    unfused update up to float rounding (tests/test_fast_step.py).
    """
    import timm.optim

    settings = config.settings
    name = name or settings.optimizer
    try:
        info = timm.optim.get_optimizer_info(name)
    except (ValueError, KeyError):
        valid = timm.optim.list_optimizers()
        raise ConfigError(f"unknown optimizer {name!r}; valid: any of timm's {len(valid)}, e.g. {FIRST_ORDER}") from None
    device = next(model.parameters()).device.type
    check_optimizer_runs(name, info, device)
    extra: dict[str, object] = {"betas": (settings.beta1, settings.beta2)} if info.has_betas and info.num_betas == 2 else {}
    if fused_kernel(info.opt_class, device):
        extra["fused"] = True
    try:
        return timm.optim.create_optimizer_v2(model, opt=name, lr=lr, weight_decay=settings.weight_decay, **extra)
    except ImportError as error:  # APEX, bitsandbytes: timm imports them only now
        raise ConfigError(f"optimizer {name!r} needs a package that is not installed ({error}); valid here: e.g. {FIRST_ORDER}") from None


FIRST_ORDER = "adam, adamw, sgd, lion"  # timm optimizers every device runs


def check_optimizer_runs(name: str, info: OptimInfo, device: str) -> None:
    """A timm optimizer energan's steps cannot drive here is a one-line error: a second-order one
    (it needs the gradients' own graph, which a step does not keep) or one of the CUDA-only
    packages timm names by import path (APEX, bitsandbytes) off a CUDA device."""
    if info.second_order:
        raise ConfigError(
            f"optimizer {name!r} is second-order: it needs backward(create_graph=True), which energan's steps do not do; "
            f"valid: a first-order timm optimizer, e.g. {FIRST_ORDER}"
        )
    package = info.opt_class.split(".")[0] if isinstance(info.opt_class, str) else None
    if package and device != "cuda":
        raise ConfigError(
            f"optimizer {name!r} ({package}) runs on CUDA only, and this run trains on {device}; valid here: e.g. {FIRST_ORDER}"
        )


def fused_kernel(optimizer: type, device: str) -> bool:
    """Whether ``optimizer(fused=True)`` exists for ``device``: torch's Adam, AdamW, SGD on the CPU
    and CUDA, Adagrad on the CPU; not timm's own optimizers, which take no ``fused``."""
    try:
        optimizer([torch.zeros(1, device=device, requires_grad=True)], fused=True)
    except (TypeError, RuntimeError, ValueError):
        return False
    return True


AUTO_WARMUP_STEPS = 500  # screen 11 (docs/results): the EBGAN-PT default needs it at 12 000 steps


def bounded_below(energy: Energy) -> bool:
    """Whether the energy declares a finite lower bound (an auto-encoder's error ≥ 0)."""
    return energy.energy_range is not None and energy.energy_range[0] > -math.inf


def with_warmup(config: ResolvedConfig, energy: Energy, loss: Loss) -> ResolvedConfig:
    """``warmup_steps = -1`` (auto) made concrete: 500 steps (or what the loss asks for, MAGAN's
    124), at most a tenth of the run, for an energy bounded below (an auto-encoder's); 0 for an
    energy unbounded below, which a warm-up on real data alone would drive to −∞."""
    settings = config.settings
    if settings.warmup_steps >= 0:
        return config
    wanted = loss.auto_warmup_steps or AUTO_WARMUP_STEPS
    steps = min(wanted, settings.steps // 10) if bounded_below(energy) else 0
    return config.replace_settings(warmup_steps=steps)


def with_augment(config: ResolvedConfig, shape: tuple[int, ...]) -> ResolvedConfig:
    """``augment = auto`` made concrete for images of ``shape`` [C, H, W]."""
    settings = config.settings
    augment = concrete_augment(settings.augment, settings.augment_shift, shape[1])
    return config if augment == settings.augment else config.replace_settings(augment=augment)


def assemble(config: ResolvedConfig, plugins: Plugins, world: World | None = None) -> tuple[ResolvedConfig, ImageData, TrainingState]:
    """The config with its automatic choices made concrete (``warmup_steps``, ``augment``), the data and the
    seeded training state (models on the device; every process of a multi-process run builds the
    same state)."""
    settings = config.settings
    world = world or World()
    world.local_batch(settings.batch_size)
    device = pick_device(settings.device, world.local_rank if world.distributed else None)
    precision = Precision(settings.amp, device)
    torch.manual_seed(stream_seed(settings.seed, Stream.WEIGHTS))
    data = load_data(config, plugins)
    model = build_model(config, plugins.registries, data.shape, device)
    config, state = training_state(config, plugins, model, data.shape, precision, world)
    return config, data, state


def training_state(
    config: ResolvedConfig, plugins: Plugins, model: Model, shape: tuple[int, int, int], precision: Precision, world: World
) -> tuple[ResolvedConfig, TrainingState]:
    """The config made concrete for ``model`` and images of ``shape``, and the training state around
    the model: loss, regularizers, optimizers, random streams (``energan train --dry-run`` builds
    the same state around networks of fake tensors)."""
    loss = as_loss(config.build(LOSS, plugins.registries))
    config = with_augment(with_warmup(config, model.energy, loss), shape)
    settings, registries, device = config.settings, plugins.registries, model.device
    if settings.sync_batch_norm and world.distributed:
        synchronise_batch_norm(model)
    check_energy_range(config, model.energy, loss)
    if settings.warmup_steps and not bounded_below(model.energy):
        raise ConfigError(
            f"warmup_steps {settings.warmup_steps}: the warm-up lowers the energy of real data, which energy "
            f"{config.energy.name!r} (unbounded below) would drive to −∞; use it with an auto-encoder energy"
        )
    regularizers = config.build_all(REGULARIZER, registries)
    for name, regularizer in regularizers.items():
        if regularizer.side not in get_args(Side):
            raise ConfigError(f"regularizer {name!r} declares side {regularizer.side!r}; valid: {', '.join(get_args(Side))}")
    state = TrainingState(
        model=model,
        loss=loss,
        regularizers=regularizers,
        optimizer_g=make_optimizer(model.generator, config, settings.optimizer_g, settings.lr_g),
        optimizer_d=make_optimizer(model.energy, config, settings.optimizer_d, settings.lr_d),
        latent_rng=torch.Generator(device).manual_seed(stream_seed(settings.seed, Stream.LATENTS)),
        augment_rng=torch.Generator(device).manual_seed(stream_seed(settings.seed, Stream.AUGMENT)),
        precision=precision,
    )
    return config, state


def synchronise_batch_norm(model: Model) -> None:
    """Batch-norm layers of both networks compute their statistics over the global batch."""
    from energan.nets.batch_norm import with_global_batch_norm

    model.generator = with_global_batch_norm(model.generator)
    model.energy = with_global_batch_norm(model.energy)


def check_energy_range(config: ResolvedConfig, energy: Energy, loss: Loss) -> None:
    """A loss whose domain is bounded below (the margin loss: s ≥ 0) refuses an energy that is not:
    it would drive the fakes' energy to −∞. An energy that declares no range gets a warning."""
    low = loss.domain[0]
    if low == -math.inf:
        return
    energy_range = energy.energy_range
    name, loss_name = config.energy.name, config.loss.name
    if energy_range is None:
        warnings.warn(f"energy {name!r} declares no energy_range; loss {loss_name!r} assumes energies ≥ {low:g}", stacklevel=2)
    elif energy_range[0] < low:
        raise ConfigError(
            f"loss {loss_name!r} needs energies ≥ {low:g}, but energy {name!r} ranges over "
            f"[{energy_range[0]:g}, {energy_range[1]:g}]; use an energy bounded below (autoencoder) or a loss "
            "defined for any real s (logistic, lsif)"
        )

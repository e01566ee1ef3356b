"""From a resolved config to the parts of a run: data, nets, loss, regularizers, optimizers.

The trainer calls what this module builds directly: no plugin-manager call per step.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from energan.components import Loss, Regularizer, as_energy
from energan.config import TrainConfig
from energan.data import ImageData
from energan.errors import ConfigError, DataError
from energan.plugins import Plugins


@dataclasses.dataclass
class Parts:
    """Everything the loop needs, plus the random streams it owns."""

    data: ImageData
    generator: nn.Module
    energy: nn.Module
    loss: Loss
    regularizers: dict[str, Regularizer]
    metrics: dict[str, Any]
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    ema: Any | None
    device: torch.device
    latent_rng: torch.Generator

    def state(self, step: int, best: float | None) -> dict[str, Any]:
        """A checkpoint's content: weights, optimizer states and every RNG stream."""
        rng = {"torch": torch.get_rng_state(), "latent": self.latent_rng.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "step": step,
            "best": best,
            "generator": self.generator.state_dict(),
            "energy": self.energy.state_dict(),
            "optimizer_g": self.optimizer_g.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": rng,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint so training continues exactly as if never stopped."""
        self.generator.load_state_dict(state["generator"])
        self.energy.load_state_dict(state["energy"])
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.optimizer_d.load_state_dict(state["optimizer_d"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        torch.set_rng_state(state["rng"]["torch"])
        self.latent_rng.set_state(state["rng"]["latent"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)


def pick_device(name: str) -> torch.device:
    """``auto`` → cuda when available; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but torch sees no CUDA device; valid here: cpu, auto")
    return torch.device(name)


def load_data(config: TrainConfig, plugins: Plugins) -> ImageData:
    """The configured dataset; a ``data_dir`` that does not exist is an error."""
    data_dir = config.settings.data_dir or None
    if data_dir is not None and not Path(data_dir).is_dir():
        raise DataError(f"data directory {data_dir} does not exist or is not a directory")
    component = plugins.registries.datasets.get(config.data.name)
    return component.build(config.data.params, data_dir=data_dir)


def make_optimizer(model: nn.Module, config: TrainConfig, name: str, lr: float) -> torch.optim.Optimizer:
    """timm's optimizer factory: any of its names; betas passed to the optimizers that take them."""
    import timm.optim

    settings = config.settings
    name = name or settings.optimizer
    try:
        info = timm.optim.get_optimizer_info(name)
    except (ValueError, KeyError):
        valid = timm.optim.list_optimizers()
        raise ConfigError(f"unknown optimizer {name!r}; valid: any of timm's {len(valid)}, e.g. adam, adamw, sgd, lion") from None
    extra = {"betas": (settings.beta1, settings.beta2)} if info.has_betas and info.num_betas == 2 else {}
    return timm.optim.create_optimizer_v2(model, opt=name, lr=lr, weight_decay=settings.weight_decay, **extra)


def assemble(config: TrainConfig, plugins: Plugins) -> Parts:
    """Build every part of a run from a resolved config (models on the device, seeded)."""
    settings = config.settings
    device = pick_device(settings.device)
    torch.manual_seed(settings.seed)
    registries = plugins.registries
    data = load_data(config, plugins)
    generator = registries.generators.get(config.generator.name).build(config.generator.params, shape=data.shape)
    if not isinstance(getattr(generator, "latent_dim", None), int):
        raise ConfigError(f"generator {config.generator.name!r} has no int attribute latent_dim")
    energy = as_energy(registries.energies.get(config.energy.name).build(config.energy.params, shape=data.shape))
    generator, energy = generator.to(device), energy.to(device)
    regularizers = {name: registries.regularizers.get(name).build(p) for name, p in config.regularizers.items()}
    for name, regularizer in regularizers.items():
        if getattr(regularizer, "side", None) not in ("discriminator", "generator"):
            raise ConfigError(f"regularizer {name!r} must declare side 'discriminator' or 'generator'")
    ema = None
    if settings.ema:
        from timm.utils import ModelEmaV3

        ema = ModelEmaV3(generator, decay=settings.ema_decay)
    return Parts(
        data=data,
        generator=generator,
        energy=energy,
        loss=registries.losses.get(config.loss.name).build(config.loss.params),
        regularizers=regularizers,
        metrics={name: registries.metrics.get(name).build(p) for name, p in config.metrics.items()},
        optimizer_g=make_optimizer(generator, config, settings.optimizer_g, settings.lr_g),
        optimizer_d=make_optimizer(energy, config, settings.optimizer_d, settings.lr_d),
        ema=ema,
        device=device,
        latent_rng=torch.Generator(device).manual_seed(settings.seed + 1),
    )

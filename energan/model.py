"""A trained model on its own: the generator, the energy and the generator's EMA.

Sampling and evaluating need nothing else (no data, no optimizers), like a StyleGAN network
pickle; the training state (energan.state) wraps a model.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from energan.components import as_energy
from energan.config import ResolvedConfig
from energan.errors import ConfigError
from energan.kinds import ENERGY, GENERATOR

SAMPLE_CHUNK = 500  # images generated per forward pass when sampling


@dataclasses.dataclass
class Model:
    """Generator, energy and (optionally) the EMA of the generator, on one device."""

    generator: nn.Module
    energy: nn.Module
    ema: Any | None  # timm ModelEmaV3
    device: torch.device

    @property
    def sampler(self) -> nn.Module:
        """The network samples come from: the EMA generator when enabled."""
        return self.ema.module if self.ema is not None else self.generator

    @torch.no_grad()
    def sample(self, n: int, seed: int) -> Tensor:
        """n images (on the CPU) from z drawn with ``seed``, in eval mode; no global RNG is used."""
        model = self.sampler
        latent = torch.Generator().manual_seed(seed)
        was_training = model.training
        model.eval()
        try:
            sizes = [min(SAMPLE_CHUNK, n - start) for start in range(0, n, SAMPLE_CHUNK)]
            chunks = [model(torch.randn(size, model.latent_dim, generator=latent).to(self.device)).float().cpu() for size in sizes]
        finally:
            model.train(was_training)
        return torch.cat(chunks)

    @torch.no_grad()
    def latent_walk(self, rows: int, columns: int, seed: int) -> Tensor:
        """``rows`` linear interpolations of ``columns`` images each between pairs of seeded z."""
        model = self.sampler
        ends = torch.randn(2, rows, model.latent_dim, generator=torch.Generator().manual_seed(seed))
        weights = torch.linspace(0, 1, columns).view(1, columns, 1)
        latents = ends[0].unsqueeze(1) * (1 - weights) + ends[1].unsqueeze(1) * weights
        was_training = model.training
        model.eval()
        try:
            return model(latents.flatten(0, 1).to(self.device)).float().cpu()
        finally:
            model.train(was_training)

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.state_dict(),
            "energy": self.energy.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for module, saved in ((self.generator, state["generator"]), (self.energy, state["energy"]), (self.ema, state.get("ema"))):
            if module is not None and saved is not None:
                module.load_state_dict(without_cancelled_biases(module, saved))


def without_cancelled_biases(module: nn.Module, saved: dict[str, Any]) -> dict[str, Any]:
    """``saved`` without the biases of layers that feed a batch-norm, which cancels them: a
    checkpoint saved while energan's nets still had them loads into today's, unchanged in output."""
    own = module.state_dict()
    return {
        key: value
        for key, value in saved.items()
        if key in own or not (key.endswith(".bias") and key.removesuffix(".bias") + ".weight" in own)
    }


def pick_device(name: str, local_rank: int | None = None) -> torch.device:
    """``auto`` → cuda when available; ``cuda`` without a GPU is an error. Under torchrun each
    process takes the GPU of its ``local_rank``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but torch sees no CUDA device; valid here: cpu, auto")
    return torch.device("cuda", local_rank) if name == "cuda" and local_rank is not None else torch.device(name)


@contextlib.contextmanager
def _allocating(kind: str, choice: Any) -> Iterator[None]:
    """A network too large for the device's memory is a one-line error that names its settings."""
    try:
        yield
    except (torch.OutOfMemoryError, RuntimeError) as error:
        if not isinstance(error, torch.OutOfMemoryError) and "allocate" not in str(error):
            raise
        settings = ", ".join(f"{key}={value}" for key, value in choice.values.items())
        raise ConfigError(f"{kind} {choice.name!r} ({settings}) does not fit in memory: {str(error).splitlines()[0][:160]}") from None


def build_model(config: ResolvedConfig, registries: Any, shape: tuple[int, int, int], device: torch.device) -> Model:
    """The networks of a resolved config for images of ``shape``, on ``device`` (weights as
    initialised under the global torch seed; a checkpoint's weights are loaded afterwards)."""
    with _allocating("generator", config.generator):
        generator = config.build(GENERATOR, registries, shape=shape).to(device)
    if not isinstance(generator.latent_dim, int):
        raise ConfigError(f"generator {config.generator.name!r} has no int attribute latent_dim")
    with _allocating("energy", config.energy):
        energy = as_energy(config.build(ENERGY, registries, shape=shape)).to(device)
    ema = None
    if config.settings.ema:
        from timm.utils import ModelEmaV3

        ema = ModelEmaV3(generator, decay=config.settings.ema_decay)
    return Model(generator, energy, ema, device)

"""The training state around a model: loss, regularizers, optimizers and the random streams."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from energan.components import Loss, Regularizer
from energan.model import Model
from energan.precision import Precision


@dataclasses.dataclass
class TrainingState:
    """Everything a training step changes besides the model's weights (and the model itself)."""

    model: Model
    loss: Loss
    regularizers: dict[str, Regularizer]
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    latent_rng: torch.Generator
    augment_rng: torch.Generator  # the energy inputs' random augmentation (unused without one)
    precision: Precision

    @property
    def device(self) -> torch.device:
        return self.model.device

    def state_dict(self) -> dict[str, Any]:
        """Optimizer states, every RNG stream, the loss's state and the fp16 gradient scalers (the model's
        weights are saved beside them)."""
        rng = {"torch": torch.get_rng_state(), "latent": self.latent_rng.get_state(), "augment": self.augment_rng.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "optimizer_g": self.optimizer_g.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "rng": rng,
            "loss": self.loss.state_dict(),
            "precision": self.precision.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore optimizers, RNG streams and the loss's state so training continues exactly as if never
        stopped (a checkpoint written before losses had state restores none)."""
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.optimizer_d.load_state_dict(state["optimizer_d"])
        self.loss.load_state_dict(state.get("loss", {}))
        self.precision.load_state_dict(state.get("precision", {}))
        torch.set_rng_state(state["rng"]["torch"])
        self.latent_rng.set_state(state["rng"]["latent"])
        if "augment" in state["rng"]:  # written before augmentation existed: it was never drawn from
            self.augment_rng.set_state(state["rng"]["augment"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)

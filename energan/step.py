"""One training step: ``d_steps`` energy (discriminator) updates, then one generator update.

Everything is resolved beforehand; the step calls plain modules and callables, and nothing in
it waits for the device.
"""

from __future__ import annotations

import contextlib
import dataclasses

import torch
from torch import Tensor

from energan.components import Regularizer, RegularizerInputs, UpdateContext
from energan.config import TrainSettings
from energan.data import ImageData
from energan.data.loader import batch_stream
from energan.state import TrainingState


@dataclasses.dataclass
class StepOutput:
    """The step's scalars, still on the device."""

    loss_d: Tensor
    loss_g: Tensor
    total_d: Tensor
    total_g: Tensor
    energies_real: Tensor  # per sample, detached: averaged only when logged
    energies_fake: Tensor
    regularizers: dict[str, Tensor]


def regularized(loss: Tensor, regularizers: dict[str, Regularizer], inputs: RegularizerInputs) -> tuple[dict[str, Tensor], Tensor]:
    """Each regularizer's unweighted value, and ``loss`` + Σ weight · value."""
    values = {name: regularizer(inputs) for name, regularizer in regularizers.items()}
    return values, loss + sum(regularizers[name].weight * value for name, value in values.items())


class TrainStep:
    """``step(index)`` performs training step ``index`` (its batches depend on the index alone)."""

    def __init__(self, state: TrainingState, data: ImageData, settings: TrainSettings) -> None:
        self.state = state
        self.settings = settings
        self.d_regularizers = {n: r for n, r in state.regularizers.items() if r.side == "discriminator"}
        self.g_regularizers = {n: r for n, r in state.regularizers.items() if r.side == "generator"}
        self.stream = batch_stream(data.train_images, settings.batch_size, settings.seed, state.device)
        self.batches_per_epoch = getattr(self.stream, "stream", self.stream).batches_per_epoch  # a prefetcher wraps its stream
        self.autocast = torch.autocast(state.device.type, dtype=torch.bfloat16) if settings.amp == "bf16" else contextlib.nullcontext()
        self.generator, self.energy = state.model.generator, state.model.energy
        if settings.compile:
            self.generator, self.energy = torch.compile(self.generator), torch.compile(self.energy)

    def close(self) -> None:
        """Release the batch stream's worker processes, if it has any."""
        self.stream.close()

    def latent(self) -> Tensor:
        state = self.state
        return torch.randn(self.settings.batch_size, state.model.generator.latent_dim, generator=state.latent_rng, device=state.device)

    def __call__(self, index: int) -> StepOutput:
        state, settings, loss = self.state, self.settings, self.state.loss
        model = state.model
        warming_up = index < settings.warmup_steps  # the energy learns the data alone; G waits

        # ---- energy steps: low energy on data, high on samples ----
        for k in range(settings.d_steps):
            batch = index * settings.d_steps + k
            real = self.stream.batch(batch).to(state.device, non_blocking=True)
            with torch.no_grad(), self.autocast:
                fake = self.generator(self.latent())
            with self.autocast:
                out_real, out_fake = self.energy(real), self.energy(fake)
                loss_d = (
                    out_real.energy.float().mean() if warming_up else loss.discriminator(out_real.energy.float(), out_fake.energy.float())
                )
                inputs = RegularizerInputs(model.energy, real, fake, out_real, out_fake)
                reg_d, total_d = regularized(loss_d, self.d_regularizers, inputs)
            state.optimizer_d.zero_grad(set_to_none=True)
            total_d.backward()
            state.optimizer_d.step()
            context = UpdateContext(index, epoch_end=(batch + 1) % self.batches_per_epoch == 0, warming_up=warming_up)
            loss.update(out_real.energy.detach().float(), out_fake.energy.detach().float(), context)
        if warming_up:
            idle = torch.zeros((), device=state.device)
            return StepOutput(loss_d, idle, total_d, idle, out_real.energy.detach(), out_fake.energy.detach(), reg_d)

        # ---- generator step: lower the energy of its samples (no weight gradients for the energy) ----
        model.energy.requires_grad_(False)
        with self.autocast:
            fake = self.generator(self.latent())
            out_fake_g = self.energy(fake)
            loss_g = loss.generator(out_fake_g.energy.float())
            inputs = RegularizerInputs(model.energy, None, fake, None, out_fake_g)
            reg_g, total_g = regularized(loss_g, self.g_regularizers, inputs)
        state.optimizer_g.zero_grad(set_to_none=True)
        total_g.backward()
        state.optimizer_g.step()
        model.energy.requires_grad_(True)
        if model.ema is not None:
            model.ema.update(model.generator, step=index)
        return StepOutput(
            loss_d=loss_d,
            loss_g=loss_g,
            total_d=total_d,
            total_g=total_g,
            energies_real=out_real.energy.detach(),
            energies_fake=out_fake.energy.detach(),
            regularizers={**reg_d, **reg_g},
        )

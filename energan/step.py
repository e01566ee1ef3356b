"""One training step: ``d_steps`` energy (discriminator) updates, then one generator update.

Everything is resolved beforehand; the step calls plain modules and callables, and nothing in
it waits for the device.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch
from torch import Tensor, nn

from energan.augment import augmentation
from energan.components import EnergyOutput, Regularizer, RegularizerInputs, UpdateContext, scores_alone
from energan.config import TrainSettings
from energan.data import ImageData, unit_range
from energan.data.loader import batch_stream
from energan.distributed import World, data_parallel
from energan.schedule import lr_factor, set_lr
from energan.state import TrainingState


@dataclasses.dataclass
class StepOutput:
    """The step's scalars, still on the device."""

    loss_d: Tensor
    loss_g: Tensor
    total_d: Tensor
    total_g: Tensor
    energies_real: Tensor  # per sample of the global batch, detached: averaged only when logged
    energies_fake: Tensor
    regularizers: dict[str, Tensor]


def regularized(loss: Tensor, regularizers: dict[str, Regularizer], inputs: RegularizerInputs) -> tuple[dict[str, Tensor], Tensor]:
    """Each regularizer's unweighted value, and ``loss`` + Σ weight · value."""
    values = {name: regularizer(inputs) for name, regularizer in regularizers.items()}
    return values, loss + sum(regularizers[name].weight * value for name, value in values.items())


class AverageUpdate:
    """timm ModelEmaV3's update of the generator's EMA (its floating-point tensors lerp toward the
    generator's by 1 − decay, the others, batch-norm's counts, are copied) on tensor lists paired
    once: ModelEmaV3 pairs two freshly built state dicts on every call, which costs the default
    step three times the update itself (docs/scale.md)."""

    def __init__(self, ema: Any, generator: nn.Module) -> None:
        self.ema = ema
        pairs = list(zip(ema.module.state_dict().values(), generator.state_dict().values(), strict=True))
        self.averaged = [average for average, _ in pairs if average.is_floating_point()]
        self.current = [value for average, value in pairs if average.is_floating_point()]
        self.copied = [(average, value) for average, value in pairs if not average.is_floating_point()]

    @torch.no_grad()
    def __call__(self, step: int) -> None:
        torch._foreach_lerp_(self.averaged, self.current, 1.0 - self.ema.get_decay(step))
        for average, value in self.copied:
            average.copy_(value)


class TrainStep:
    """``step(index)`` performs training step ``index`` (its batches depend on the index alone).

    In a run over several processes each one trains on its share of the global batch through
    DistributedDataParallel; the energies handed to the loss's ``update`` and returned for the
    logs are the whole batch's, gathered from every process.
    """

    def __init__(self, state: TrainingState, data: ImageData, settings: TrainSettings, world: World | None = None) -> None:
        self.state = state
        self.settings = settings
        self.world = world = world or World()
        self.d_regularizers = {n: r for n, r in state.regularizers.items() if r.side == "discriminator"}
        self.g_regularizers = {n: r for n, r in state.regularizers.items() if r.side == "generator"}
        self.scaler_d, self.scaler_g = state.precision.scalers["discriminator"], state.precision.scalers["generator"]
        self.augment = augmentation(settings.augment, settings.augment_shift, data.shape, state.augment_rng, world)
        self.stream = batch_stream(data.train_images, settings.batch_size, settings.seed, state.device, world.rank, world.size)
        self.batches_per_epoch = self.stream.batches_per_epoch
        self.data_wait = 0.0  # seconds spent waiting for batches since the last ``take_data_wait``
        model = state.model
        self.generator_parameters = list(model.generator.parameters())
        # The energy's generator-step forward only passes gradients through to the generator: it is
        # never wrapped for gradient averaging, and the energy's weights keep requires_grad (the
        # backward is limited to the generator's weights instead), so a compiled graph is never
        # invalidated by toggling it.
        self.generator = data_parallel(model.generator, world, state.device)
        self.energy = data_parallel(model.energy, world, state.device)
        self.energy_g = model.energy
        self.update_average = AverageUpdate(model.ema, model.generator) if model.ema is not None else None
        self.one_forward = scores_alone(model.energy)  # real and generated batches scored together
        self.rank_statistics = world.distributed and not settings.sync_batch_norm  # batch-norm on each rank's share
        if settings.compile:
            self.generator, self.energy = torch.compile(self.generator), torch.compile(self.energy)
            self.energy_g = self.energy if not world.distributed else torch.compile(model.energy)

    def close(self) -> None:
        """Release the batch stream's worker processes, if it has any."""
        self.stream.close()

    def take_data_wait(self) -> float:
        """The seconds the steps waited for their batches since the last call."""
        waited, self.data_wait = self.data_wait, 0.0
        return waited

    def latent(self) -> Tensor:
        """This process's share of the global batch's latents (drawn whole, so every share is seeded alike)."""
        state = self.state
        latent = torch.randn(self.settings.batch_size, state.model.generator.latent_dim, generator=state.latent_rng, device=state.device)
        return self.world.shard(latent)

    def energies(self, real: Tensor, fake: Tensor) -> tuple[EnergyOutput, EnergyOutput]:
        """The energy's outputs on ``real`` and on ``fake``: one forward of both batches where it
        scores each sample alone (larger matrix products, one backward), else a forward of each."""
        if not self.one_forward:
            return self.energy(real), self.energy(fake)
        return self.energy(torch.cat((real, fake))).split(len(real))

    def __call__(self, index: int) -> StepOutput:
        state, settings, loss, world = self.state, self.settings, self.state.loss, self.world
        model, precision = state.model, state.precision
        warming_up = index < settings.warmup_steps  # the energy learns the data alone; G waits
        if settings.lr_decay_start < 1.0:
            factor = lr_factor(index, settings.steps, settings.lr_decay_start)
            set_lr(state.optimizer_d, settings.lr_d, factor)
            set_lr(state.optimizer_g, settings.lr_g, factor)

        # ---- energy steps: low energy on data, high on samples ----
        for k in range(settings.d_steps):
            batch = index * settings.d_steps + k
            asked = time.perf_counter()
            real = unit_range(self.stream.batch(batch).to(state.device, non_blocking=True))
            self.data_wait += time.perf_counter() - asked
            with torch.no_grad(), precision.autocast():
                fake = self.generator(self.latent())
            real, fake = self.augment(real), self.augment(fake)  # what the energy sees (unchanged without augmentation)
            with precision.autocast():
                out_real, out_fake = self.energies(real, fake)
            energies_real, energies_fake = out_real.energy.float(), out_fake.energy.float()
            loss_d = energies_real.mean() if warming_up else loss.discriminator(energies_real, energies_fake)
            inputs = RegularizerInputs(model.energy, real, fake, out_real, out_fake)
            reg_d, total_d = regularized(loss_d, self.d_regularizers, inputs)
            precision.update(total_d, state.optimizer_d, self.scaler_d)
            seen_real, seen_fake = world.gather(energies_real.detach()), world.gather(energies_fake.detach())
            context = UpdateContext(index, epoch_end=(batch + 1) % self.batches_per_epoch == 0, warming_up=warming_up)
            loss.update(seen_real, seen_fake, context)
        if warming_up:
            idle = torch.zeros((), device=state.device)
            return StepOutput(loss_d, idle, total_d, idle, seen_real, seen_fake, reg_d)

        # ---- generator step: lower the energy of its samples (gradients into the generator only) ----
        with precision.autocast():
            fake = self.generator(self.latent())
            fake = self.augment(fake)
            out_fake_g = self.energy_g(fake)
        loss_g = loss.generator(out_fake_g.energy.float())
        inputs = RegularizerInputs(model.energy, None, fake, None, out_fake_g)
        reg_g, total_g = regularized(loss_g, self.g_regularizers, inputs)
        precision.update(total_g, state.optimizer_g, self.scaler_g, inputs=self.generator_parameters)
        if self.rank_statistics:  # the running statistics of rank 0's share, as DDP hands them to every forward
            world.broadcast_buffers(model.generator)
            world.broadcast_buffers(model.energy)
        if self.update_average is not None:
            self.update_average(index)
        return StepOutput(
            loss_d=loss_d,
            loss_g=loss_g,
            total_d=total_d,
            total_g=total_g,
            energies_real=seen_real,
            energies_fake=seen_fake,
            regularizers={**reg_d, **reg_g},
        )

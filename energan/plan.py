"""A plan before the run (``energan train --dry-run``): what one training step of a config costs.

The config is resolved and its training state built as :func:`energan.assemble.assemble` builds
it (the networks, the real loss, regularizers and optimizers), on fake tensors: nothing is
allocated and no data is read beyond the image count of a folder. The real step
(:class:`energan.step.TrainStep`: ``d_steps`` energy updates, then one generator update) then runs
on a fake batch, under torch's FlopCounterMode and a :class:`~energan.peak_memory.PeakMemory`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils.flop_counter import FlopCounterMode

from energan.assemble import load_data, training_state
from energan.config import ResolvedConfig, TrainSettings
from energan.data import ImageData
from energan.distributed import World
from energan.errors import DataError
from energan.model import Model, build_model
from energan.peak_memory import PeakMemory
from energan.plugins import Plugins
from energan.precision import Precision
from energan.state import TrainingState
from energan.step import TrainStep

CARDS_GIB = (24, 40, 80)  # the usual sizes of a training GPU's memory
# The share of a card's memory the step's tensors may take: the CUDA context, the library
# workspaces and the caching allocator's rounding take the rest.
CARD_SHARE = 0.9
STEP_TIMES_S = (0.01, 0.05, 0.1, 1.0)  # step times at which the images a device must be fed are shown
IMAGES_PER_ROW = 100_000  # the prepared set's size is shown per this many images when no --data-dir is given
LARGEST_EXPONENT = 24  # the search for the largest batch stops at 2**24


@dataclasses.dataclass(frozen=True)
class StepCost:
    """One training step at one batch size (one process holding the whole batch)."""

    batch_size: int
    flops: int  # matrix products and convolutions, forward and backward, as FlopCounterMode counts them
    persistent_bytes: int  # weights, buffers, gradients and optimizer states alive before the step
    peak_bytes: int  # the most tensor bytes alive at once during the step, the persistent ones included


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a config's training costs, before it runs."""

    shape: tuple[int, int, int]
    batch_size: int
    d_steps: int
    amp: str
    parameters: dict[str, int]  # per network: generator, energy, ema (a copy of the generator)
    cost: StepCost
    largest_batch: dict[int, int | None]  # card GiB -> the largest power-of-two batch whose step fits (None: not even 2)
    images: int | None  # image files under --data-dir (the folder dataset), None without one
    store_bytes: int | None  # the prepared set on disk: of ``images``, or of IMAGES_PER_ROW without a data dir; None for in-memory datasets
    prepared: bool  # whether the folder is prepared (data.prepare) or decoded on every draw

    def fits(self, card_gib: int) -> bool:
        """Whether the step at the config's batch fits a card of ``card_gib`` GiB."""
        return self.cost.peak_bytes <= usable_bytes(card_gib)

    def feed_rate(self, step_s: float) -> float:
        """Images per second a device must be fed to run a step every ``step_s`` seconds."""
        return self.batch_size * self.d_steps / step_s

    def to_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "largest_batch": {f"{gib}GiB": batch for gib, batch in self.largest_batch.items()},
            "fits": {f"{gib}GiB": self.fits(gib) for gib in CARDS_GIB},
            "images_per_s": {f"{step_s:g}s": self.feed_rate(step_s) for step_s in STEP_TIMES_S},
        }


def usable_bytes(card_gib: int) -> int:
    """The bytes of a card's memory a step's tensors may take."""
    return int(CARD_SHARE * card_gib * 2**30)


def plan(config: ResolvedConfig, plugins: Plugins) -> Plan:
    """The plan of a resolved config: parameters, the step's FLOPs and peak memory, the largest
    batch per card and the prepared set's size."""
    settings = config.settings
    shape = image_shape(config, plugins)
    images = folder_images(config)
    with fake_training(config, plugins, shape) as (concrete, state):
        first = TrainStep(state, fake_data(settings.batch_size, shape), step_settings(concrete, settings.batch_size))
        warmup = concrete.settings.warmup_steps
        for index in range(max(warmup - 1, 0), warmup + 1):  # the warm-up's last step (a loss may learn from it), then a full one
            first(index)
        costs = functools.cache(lambda batch: step_cost(concrete, state, shape, batch))
        cost = costs(settings.batch_size)
        largest = largest_batches(lambda batch: costs(batch).peak_bytes, settings.batch_size)
        parameters = {"generator": count_parameters(state.model.generator), "energy": count_parameters(state.model.energy)}
        if state.model.ema is not None:
            parameters["ema"] = count_parameters(state.model.ema.module)
    return Plan(
        shape=shape,
        batch_size=settings.batch_size,
        d_steps=settings.d_steps,
        amp=settings.amp,
        parameters=parameters,
        cost=cost,
        largest_batch=largest,
        images=images,
        store_bytes=prepared_bytes(config, images),
        prepared=config.data.name == "folder" and config.data.params.prepare,
    )


def image_shape(config: ResolvedConfig, plugins: Plugins) -> tuple[int, int, int]:
    """The images' [C, H, W]: from the dataset's parameters where they say it (a folder's ``size``,
    MNIST's ``pad``), so no file is read; else from the dataset itself (the embedded and synthetic
    ones are built in memory at once; a third party's is built as training would)."""
    data = config.data
    if data.name == "folder":
        from energan.data.store import CHANNELS

        return CHANNELS, data.params.size, data.params.size
    if data.name == "mnist":
        side = 32 if data.params.pad else 28
        return 1, side, side
    return load_data(config, plugins).shape


def folder_images(config: ResolvedConfig) -> int | None:
    """The image files under --data-dir when the dataset is a folder; None without a data dir."""
    data_dir = config.settings.data_dir
    if config.data.name != "folder" or not data_dir:
        return None
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"data directory {data_dir} does not exist or is not a directory")
    from energan.data.folder import find_images

    return len(find_images(root))


def prepared_bytes(config: ResolvedConfig, images: int | None) -> int | None:
    """The prepared folder's bytes on disk (of IMAGES_PER_ROW images without a data dir); None for other datasets."""
    if config.data.name != "folder":
        return None
    from energan.data.store import store_bytes

    return store_bytes(IMAGES_PER_ROW if images is None else images, config.data.params.size)


@dataclasses.dataclass
class FakeAverage:
    """The generator's EMA as the step uses it (its module and decay). timm's ModelEmaV3 deep-copies
    the generator, which a fake tensor cannot be: the copy is made on the meta device instead."""

    module: nn.Module
    decay: float

    def get_decay(self, step: int) -> float:
        return self.decay


@contextlib.contextmanager
def fake_training(config: ResolvedConfig, plugins: Plugins, shape: tuple[int, int, int]) -> Iterator[tuple[ResolvedConfig, TrainingState]]:
    """The concrete config and its training state with every tensor fake, on a faked CPU (the
    mode stays active inside the block). The networks are built by :func:`build_model` on the meta
    device, then given fake storage (a fake module cannot be moved with ``.to``); AMP as configured,
    fp16 estimated as bf16 (the same bytes; fp16 needs a real CUDA device); one process."""
    cpu, meta, settings = torch.device("cpu"), torch.device("meta"), config.settings
    with meta:
        built = build_model(config.replace_settings(ema=False), plugins.registries, shape, meta)
        average = copy.deepcopy(built.generator).eval() if settings.ema else None
    with FakeTensorMode(allow_non_fake_inputs=True):
        for network in (built.generator, built.energy, average):
            if network is not None:
                network.to_empty(device=cpu)
        model = Model(built.generator, built.energy, FakeAverage(average, settings.ema_decay) if average is not None else None, cpu)
        precision = Precision("bf16" if settings.amp == "fp16" else settings.amp, cpu)
        yield training_state(config, plugins, model, shape, precision, World())


def fake_data(batch_size: int, shape: tuple[int, int, int]) -> ImageData:
    """A training set of one batch, fake (inside :func:`fake_training`)."""
    return ImageData("plan", torch.empty(batch_size, *shape))


def step_settings(config: ResolvedConfig, batch_size: int) -> TrainSettings:
    """The config's settings at ``batch_size``, uncompiled (a fake step is counted op by op)."""
    return dataclasses.replace(config.settings, batch_size=batch_size, compile=False)


def state_tensors(state: TrainingState) -> Iterator[torch.Tensor]:
    """What a step finds in memory: the networks' weights, buffers and gradients, the optimizers' states."""
    model = state.model
    for network in (model.generator, model.energy, model.ema.module if model.ema is not None else None):
        if network is not None:
            yield from network.parameters()
            yield from network.buffers()
            yield from (weight.grad for weight in network.parameters() if weight.grad is not None)
    for optimizer in (state.optimizer_d, state.optimizer_g):
        for values in optimizer.state.values():
            yield from (value for value in values.values() if isinstance(value, torch.Tensor))


def step_cost(config: ResolvedConfig, state: TrainingState, shape: tuple[int, int, int], batch_size: int) -> StepCost:
    """One step of the real TrainStep at ``batch_size`` on fake data, counted (inside
    :func:`fake_training`, after a first step made the gradients and optimizer states): the
    first step after the warm-up, which updates both networks."""
    step = TrainStep(state, fake_data(batch_size, shape), step_settings(config, batch_size))
    with PeakMemory() as memory:
        memory.track(state_tensors(state))
        persistent = memory.current
        flops = count_flops(lambda: step(config.settings.warmup_steps))
    return StepCost(batch_size, flops, persistent, memory.peak)


def count_flops(function: Callable[[], object]) -> int:
    """The FLOPs of ``function()`` as torch's FlopCounterMode counts them (matrix products and
    convolutions, forward and backward; element-wise ops count nothing)."""
    with FlopCounterMode(display=False) as flops:
        function()
    return flops.get_total_flops()


def count_parameters(network: nn.Module) -> int:
    return sum(weight.numel() for weight in network.parameters())


def largest_batches(peak_bytes: Callable[[int], int], batch: int) -> dict[int, int | None]:
    """Per card, the largest power-of-two batch whose step's peak fits it (None: not even 2, the
    least a batch-norm trains on). The peak is the weights' and states' bytes plus the activations'
    per sample, so the estimates at ``batch`` and twice it place each card's batch; the estimates
    at that batch and twice it then check it, moving it a power of two at a time until both agree."""
    peak = functools.cache(peak_bytes)
    per_sample = max((peak(2 * batch) - peak(batch)) / batch, 1.0)
    fixed = peak(batch) - per_sample * batch
    largest: dict[int, int | None] = {}
    for gib in CARDS_GIB:
        usable = usable_bytes(gib)
        room = (usable - fixed) / per_sample  # the samples that fit, were the peak exactly affine
        guess = 2 ** min(int(math.log2(room)) if room >= 2 else 1, LARGEST_EXPONENT)
        while guess > 2 and peak(guess) > usable:
            guess //= 2
        while guess < 2**LARGEST_EXPONENT and peak(2 * guess) <= usable:
            guess *= 2
        largest[gib] = guess if peak(guess) <= usable else None
    return largest

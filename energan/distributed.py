"""Data-parallel training over torch.distributed, launched by torchrun.

torchrun starts one process per device and sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous
variables; ``join_world`` reads them and joins the process group (nccl on CUDA, gloo on the
CPU). Without them a run is a world of one and nothing here talks to another process.

Every rank draws the same global batch of ``batch_size`` indices and latents from the same
seeded streams and keeps its own contiguous share (``World.shard``), so a run over N processes
sees the batches of the one-process run with the same seed, split N ways.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from energan.errors import ConfigError, EnerganError


class ReplicaError(EnerganError):
    """The ranks of a data-parallel run no longer hold the same weights."""


@dataclasses.dataclass(frozen=True)
class World:
    """This process's place among the run's processes (a world of one outside torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and talks to observers."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def local_batch(self, batch_size: int) -> int:
        """This rank's share of a global batch (every rank gets the same share)."""
        if batch_size % self.size:
            raise ConfigError(
                f"batch_size {batch_size} is the global batch and must split evenly over the {self.size} processes; "
                f"use a multiple of {self.size}, e.g. {batch_size - batch_size % self.size or self.size}"
            )
        return batch_size // self.size

    def shard(self, batch: Tensor) -> Tensor:
        """This rank's contiguous rows of a global batch."""
        share = self.local_batch(batch.shape[0])
        return batch[self.rank * share : (self.rank + 1) * share]

    def gather(self, local: Tensor) -> Tensor:
        """Every rank's rows, in rank order (no gradient), the global batch again."""
        if not self.distributed:
            return local
        parts = [torch.empty_like(local) for _ in range(self.size)]
        dist.all_gather(parts, local.contiguous())
        return torch.cat(parts)

    def mean(self, value: Tensor) -> Tensor:
        """The mean of a per-rank scalar over the ranks."""
        if not self.distributed:
            return value
        total = value.detach().clone()
        dist.all_reduce(total)
        return total / self.size

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when ``flag`` is True on any rank (a stop request, a bad loss)."""
        if not self.distributed:
            return flag
        value = torch.tensor(float(flag), device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def from_main(self, flag: bool, device: torch.device) -> bool:
        """Rank 0's ``flag`` on every rank (a decision only rank 0 can take, e.g. a new best score)."""
        if not self.distributed:
            return flag
        value = torch.tensor(float(flag), device=device)
        dist.broadcast(value, src=0)
        return bool(value.item())

    def check_replicas(self, modules: dict[str, nn.Module]) -> None:
        """Raise ReplicaError, naming the first tensor that differs, when a rank's parameters or
        buffers differ from rank 0's (they must not: every rank applies the same averaged gradients
        and the same buffer updates)."""
        if not self.distributed:
            return
        named = [
            (f"{module_name}.{name}", tensor.detach().float().flatten())
            for module_name, module in modules.items()
            for name, tensor in (*module.named_parameters(), *module.named_buffers())
            if tensor.is_floating_point()
        ]
        if not named:
            return
        mine = torch.cat([tensor for _, tensor in named])
        reference = mine.clone()
        dist.broadcast(reference, src=0)
        gaps = torch.stack([part.abs().max() for part in (mine - reference).split([tensor.numel() for _, tensor in named])])
        dist.all_reduce(gaps, op=dist.ReduceOp.MAX)
        differing = gaps.nonzero().flatten().tolist()
        if differing:
            name, gap = named[differing[0]][0], gaps[differing[0]].item()
            raise ReplicaError(f"the {self.size} processes hold different weights, first {name} (largest gap {gap:.3g}); ranks diverged")

    def broadcast_buffers(self, module: nn.Module) -> None:
        """Rank 0's buffers (batch-norm's running statistics) on every rank."""
        if self.distributed:
            for buffer in module.buffers():
                dist.broadcast(buffer, src=0)


def provenance(world: World, device: torch.device) -> dict[str, int | str]:
    """How a run was trained, for the record: the number of processes, the device kind and, on
    CUDA, the GPU's name (as stylegan2-ada's training_options.json records its GPUs)."""
    record: dict[str, int | str] = {"world_size": world.size, "device": device.type}
    if device.type == "cuda":
        record["gpu"] = torch.cuda.get_device_name(device)
    return record


def world_from_environment(environ: dict[str, str] | None = None) -> World:
    """The world torchrun describes in the environment (a world of one without it)."""
    environ = os.environ if environ is None else environ
    if "WORLD_SIZE" not in environ:
        return World()
    try:
        return World(int(environ["RANK"]), int(environ["WORLD_SIZE"]), int(environ.get("LOCAL_RANK", environ["RANK"])))
    except (KeyError, ValueError):
        seen = {key: environ.get(key) for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
        raise ConfigError(f"torch.distributed environment is incomplete or not integers: {seen}; launch with torchrun") from None


@contextlib.contextmanager
def joined_world(device_name: str) -> Iterator[World]:
    """This process's world, joining (and at the end leaving) the process group torchrun set up;
    a group the caller already joined is used and left alone. A world of one needs no group."""
    world = world_from_environment()
    if not world.distributed or dist.is_initialized():
        yield world
        return
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(world.local_rank)
    # rank 0 alone evaluates (a first evaluation may fit the metric's classifier): the others wait
    dist.init_process_group("nccl" if use_cuda else "gloo", timeout=datetime.timedelta(hours=1))
    try:
        yield world
        # rank 0 finishes last (observers, the final figure): the others wait for it here, so that
        # no process tears its connections down while a peer still uses the group
        dist.barrier()
    finally:
        dist.destroy_process_group()


class _GatherWithGradient(torch.autograd.Function):
    """All-gather along dim 0 whose backward hands each rank the summed gradient of its own rows."""

    @staticmethod
    def forward(ctx: Any, local: Tensor) -> Tensor:
        parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, local.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad.chunk(dist.get_world_size())[dist.get_rank()]


def gather_with_gradient(local: Tensor) -> Tensor:
    """Every rank's rows of ``local`` (equal shapes) in rank order, differentiable.

    Each rank computes the same function f of the gathered batch; the backward sums the ranks'
    gradients of their own rows, N·∂f/∂(rows), and DDP's mean over the N ranks then gives the
    gradient of f itself, as one process computing f on the whole batch would.
    """
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return local
    return _GatherWithGradient.apply(local)


class _SumWithGradient(torch.autograd.Function):
    """All-reduce (sum) whose backward all-reduces the gradient: every rank's output feeds every
    rank's loss, so each input's gradient is the sum of the ranks' gradients of that output."""

    @staticmethod
    def forward(ctx: Any, local: Tensor) -> Tensor:
        total = local.contiguous().clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad


def sum_with_gradient(local: Tensor) -> Tensor:
    """The sum of ``local`` over the ranks, differentiable (``local`` itself in a world of one)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return local
    return _SumWithGradient.apply(local)


def data_parallel(module: nn.Module, world: World, device: torch.device) -> nn.Module:
    """``module`` wrapped in DistributedDataParallel in a multi-process run, else itself."""
    if not world.distributed:
        return module
    return nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)

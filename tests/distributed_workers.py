"""Functions that run in each process of a spawned gloo group (importable by spawned children)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist

from energan.components import EnergyOutput, RegularizerInputs
from energan.distributed import World
from energan.nets.batch_norm import with_global_batch_norm
from energan.regularizers import PullAway

WORLD_SIZE = 2


def in_group(rank: int, rendezvous: Path, work, *args) -> None:
    """Join a gloo group through a rendezvous file, run ``work(rank, *args)``, leave."""
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=WORLD_SIZE)
    try:
        work(rank, *args)
    finally:
        dist.destroy_process_group()


def global_pullaway(rank: int, codes: torch.Tensor, out: Path) -> None:
    """f_PT with scope global on this rank's share; saves the value and the share's gradient."""
    world = World(rank, WORLD_SIZE)
    share = world.shard(codes).clone().requires_grad_(True)
    value = PullAway(weight=1.0, impl="fused", eps=1e-8, scope="global")(
        RegularizerInputs(None, None, None, None, EnergyOutput(share, share))
    )
    value.backward()
    # DDP divides the sum of the ranks' weight gradients by the number of ranks
    torch.save({"value": value.detach(), "grad": share.grad / WORLD_SIZE}, out / f"rank{rank}.pt")


def replicas(rank: int, perturb: bool, out: Path) -> None:
    """check_replicas on a module that is the same on both ranks unless ``perturb`` moves rank 1's."""
    module = torch.nn.Linear(3, 2)
    torch.nn.init.constant_(module.weight, 0.5)
    torch.nn.init.constant_(module.bias, -0.25)
    if perturb and rank == 1:
        with torch.no_grad():
            module.bias[0] += 1e-6
    try:
        World(rank, WORLD_SIZE).check_replicas({"energy": module})
        (out / f"rank{rank}.txt").write_text("same")
    except Exception as error:
        (out / f"rank{rank}.txt").write_text(str(error))


def global_batch_norm(rank: int, batch: torch.Tensor, upstream: torch.Tensor, out: Path) -> None:
    """Two training forwards of a global batch-norm on this rank's share, then the backward of
    Σ upstream·y; saves the share's outputs and gradient, the weights' gradients (as DDP averages
    them) and the running statistics."""
    world = World(rank, WORLD_SIZE)
    norm = with_global_batch_norm(torch.nn.Sequential(batch_norm_of(batch))).double()
    share = world.shard(batch).clone().requires_grad_(True)
    norm(share.detach() * 2 + 1)  # a first batch moves the running statistics
    y = norm(share)
    (y * world.shard(upstream)).sum().backward()
    grads = [p.grad.clone() for p in norm.parameters()]
    for grad in grads:
        dist.all_reduce(grad)
    torch.save(
        {"y": y.detach(), "grad": share.grad, "param_grads": grads, "state": norm.state_dict()},
        out / f"rank{rank}.pt",
    )


def batch_norm_of(batch: torch.Tensor) -> torch.nn.Module:
    """The batch-norm for ``batch`` ([N, C] or [N, C, H, W]), with a non-trivial affine part."""
    norm = (torch.nn.BatchNorm1d if batch.dim() == 2 else torch.nn.BatchNorm2d)(batch.shape[1])
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 1.5, batch.shape[1]))
        norm.bias.copy_(torch.linspace(-0.2, 0.3, batch.shape[1]))
    return norm

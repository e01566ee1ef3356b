"""Batch-norm over the global batch of a multi-process run, on the CPU as on CUDA."""

from __future__ import annotations

import torch
import torch.distributed as dist
from einops import rearrange
from torch import Tensor, nn

from energan.distributed import sum_with_gradient


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Normalises with the mean and variance of every rank's batch together, as one process would
    on the whole batch, and updates the running statistics from them, so the ranks' buffers stay
    equal. Differentiable: each rank's backward sees every rank's rows through the statistics.

    torch's ``SyncBatchNorm`` refuses CPU inputs (and DDP refuses it on CPU modules); this keeps
    batch-norm's parameters and state-dict keys and computes the statistics from two all-reduced
    sums (the mean, then the centred squares) on any device. Outside a multi-process training
    forward it is plain batch-norm.
    """

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected an input of at least 2 dimensions [N, C, ...], got {x.dim()}")

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        sum_dims = [0, *range(2, x.dim())]
        per_channel = "c -> 1 c" + " 1" * (x.dim() - 2)
        local_count = x.new_full((1,), x.numel() // x.shape[1])
        sums = sum_with_gradient(torch.cat([x.sum(sum_dims), local_count]))
        count = sums[-1]
        mean = sums[:-1] / count
        centred = x - rearrange(mean, per_channel)
        variance = sum_with_gradient(centred.square().sum(sum_dims)) / count
        if self.track_running_stats:
            self._update_running(mean.detach(), variance.detach() * count / (count - 1).clamp(min=1))
        out = centred * rearrange(torch.rsqrt(variance + self.eps), per_channel)
        if self.affine:
            out = out * rearrange(self.weight, per_channel) + rearrange(self.bias, per_channel)
        return out

    @torch.no_grad()
    def _update_running(self, mean: Tensor, unbiased_variance: Tensor) -> None:
        """torch's rule: an exponential average at ``momentum``, a cumulative one when it is None."""
        self.num_batches_tracked += 1
        momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
        self.running_var.lerp_(unbiased_variance.to(self.running_var.dtype), momentum)


BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def with_global_batch_norm(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm1d/2d/3d replaced by a GlobalBatchNorm holding the same
    parameters and buffers on the same device (checkpoints keep their keys)."""
    if isinstance(module, BATCH_NORMS):
        device = next((t.device for t in (*module.parameters(), *module.buffers())), None)
        replacement = GlobalBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats, device=device
        )
        replacement.load_state_dict(module.state_dict())
        replacement.train(module.training)
        return replacement
    for name, child in module.named_children():
        module.add_module(name, with_global_batch_norm(child))
    return module

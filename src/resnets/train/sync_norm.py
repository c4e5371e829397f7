"""Batch normalisation over the global batch, on the CPU as well as on GPUs.

With N processes each sees ``batch / N`` images, so plain BatchNorm normalises with the
statistics of a slice, and N processes no longer take the steps one process would. PyTorch's
``nn.SyncBatchNorm`` shares the statistics, but its kernels are CUDA's: it refuses CPU tensors,
so Gloo runs (and the CPU tests of the equivalence) could not use it. :class:`GlobalBatchNorm`
computes the same normalisation with two autograd-aware all-reduces per layer:

    mean = sum_r sum_i x_ri / n,   var = sum_r sum_i (x_ri - mean)^2 / n,   n = sum_r n_r
    y = (x - mean) / sqrt(var + eps) * weight + bias                      (Ioffe & Szegedy 2015)

The all-reduce's backward is an all-reduce of the incoming gradients, so each process receives
the derivative of the sum of every process's loss; DDP's averaging of the parameter gradients
then gives exactly the gradient of one process's loss over the whole batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class _AllSum(torch.autograd.Function):
    """The sum of a tensor over the processes; its gradient is the sum of theirs."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        total = grad.clone()
        dist.all_reduce(total)
        return total


def _all_sum(tensor: torch.Tensor) -> torch.Tensor:
    return _AllSum.apply(tensor)


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm (1d, 2d or 3d inputs) whose training statistics are those of all processes.

    Alone, in evaluation, or outside a process group it is an ordinary BatchNorm; its state
    dict is BatchNorm's, so checkpoints load into either.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least a 2-D input (batch, channels, ...), got "
                             f"{input.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        xf = x.float()  # statistics in fp32, also under bf16 autocast
        local = torch.cat([xf.sum(dims), xf.new_tensor([x.numel() // x.size(1)])])
        total = _all_sum(local)
        count = total[-1].detach()
        mean = total[:-1] / count
        centered = xf - mean.view(shape)
        var = _all_sum(centered.square().sum(dims)) / count
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach(), count)
        y = centered * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor,
                              count: torch.Tensor) -> None:
        self.num_batches_tracked.add_(1)
        momentum = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                    else self.momentum)
        unbiased = var * count / (count - 1).clamp(min=1)  # as BatchNorm's running variance
        self.running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
        self.running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)


def convert_to_global_batchnorm(module: nn.Module,
                                layer: type[nn.Module] = GlobalBatchNorm) -> nn.Module:
    """Replace every BatchNorm in ``module`` by ``layer`` (:class:`GlobalBatchNorm`, or
    ``nn.SyncBatchNorm`` on CUDA) in place.

    The new layers take over the old ones' parameters and buffers (the same tensors), so an
    optimiser built on ``module.parameters()`` stays valid. BatchNorms of frozen stages
    (``frozen_stats``, see :func:`resnets.train.finetune.freeze_stages`) stay as they are:
    they normalise with their stored statistics and have nothing to share. Returns ``module``,
    or its replacement when ``module`` itself is a BatchNorm.
    """
    if (isinstance(module, nn.modules.batchnorm._BatchNorm)
            and not isinstance(module, (GlobalBatchNorm, nn.SyncBatchNorm))
            and not getattr(module, "frozen_stats", False)):
        new = layer(module.num_features, module.eps, module.momentum, module.affine,
                    module.track_running_stats)
        for name, tensor in [*module._parameters.items(), *module._buffers.items()]:
            setattr(new, name, tensor)
        new.train(module.training)
        return new
    for name, child in module.named_children():
        new_child = convert_to_global_batchnorm(child, layer)
        if new_child is not child:
            setattr(module, name, new_child)
    return module

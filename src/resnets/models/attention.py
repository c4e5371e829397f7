"""Attention modules for residual branches, beside squeeze-and-excitation (layers.py).

* :class:`Cbam`: Woo, Park, Lee & Kweon, "CBAM: Convolutional Block Attention Module" (ECCV
  2018, arXiv:1807.06521). Channel attention (a shared two-layer MLP over the average- and
  the max-pooled channels, summed, then a sigmoid), then spatial attention (a 7x7 convolution
  with BN over the channel-wise average and maximum maps, then a sigmoid).
* :class:`Eca`: Wang, Wu, Zhu, Li, Zuo & Hu, "ECA-Net: Efficient Channel Attention" (CVPR
  2020, arXiv:1910.03151). A 1-D convolution across the average-pooled channels, of an odd
  kernel size k growing with log2 of the channel count (Eq. 12, gamma=2, b=1), no reduction.
* :class:`GlobalContext`: Cao, Xu, Lin, Wei & Hu, "GCNet: Non-local Networks Meet
  Squeeze-Excitation Networks and Beyond" (ICCVW 2019, arXiv:1904.11492). Attention pooling
  (a 1x1 convolution and a softmax over the positions weight the context), a bottleneck
  transform (1x1, LayerNorm, ReLU, 1x1) and the result added to every position (Fig. 4d).

Each computes what timm's module of the same paper computes with these settings, so equal
weights give equal outputs (tests/models/test_attention.py): ``CbamModule`` (reduction 1/16,
rounded, MLP without biases, 7x7 spatial kernel with BN); ``EcaModule`` (its adaptive kernel
rule); ``GlobalContext(fuse_add=True, fuse_scale=False)``, timm's ``"gca"``, since the paper
adds the context (timm's ``"gc"`` scales by it instead). The GC bottleneck uses the shared
reduction ratio r=16 (the paper's "GC r16"; timm defaults to 8).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ResnetsError


def reduced_width(channels: int, reduction: int) -> int:
    """``channels / reduction`` rounded to the nearest integer, at least 1 (timm's rule for
    CBAM and GC, ``make_divisible`` with divisor 1)."""
    return max(1, int(channels / reduction + 0.5))


class ChannelAttention(nn.Module):
    """x * sigmoid(mlp(avgpool(x)) + mlp(maxpool(x))): CBAM's channel gate (Eq. 2)."""

    def __init__(self, channels: int, reduction: int = 16,
                 act_layer: Callable[..., nn.Module] = nn.ReLU) -> None:
        super().__init__()
        hidden = reduced_width(channels, reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.act = act_layer(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)

    def mlp(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(pooled)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = (self.mlp(x.mean(dim=(2, 3), keepdim=True))
                  + self.mlp(x.amax(dim=(2, 3), keepdim=True)))
        return x * torch.sigmoid(logits)


class SpatialAttention(nn.Module):
    """x * sigmoid(BN(conv7x7([mean over C, max over C]))): CBAM's spatial gate (Eq. 3)."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.bn(self.conv(pooled)))


class Cbam(nn.Module):
    """CBAM: channel attention, then spatial attention on its output (sequential, Fig. 1)."""

    def __init__(self, channels: int, reduction: int = 16,
                 act_layer: Callable[..., nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction, act_layer)
        self.spatial = SpatialAttention(7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))


def eca_kernel_size(channels: int, gamma: float = 2.0, beta: float = 1.0) -> int:
    """ECA's adaptive kernel size: |log2(C) / gamma + b / gamma| to the odd number, at least 3.

    An even value moves up to the next odd one (as the authors' and timm's code do): C=64
    gives 3, C=256 and 512 give 5, C=2048 gives 7.
    """
    t = int(abs(math.log2(channels) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


class Eca(nn.Module):
    """x * sigmoid(conv1d_k(avgpool(x))): each channel's gate sees its k neighbours' means."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = eca_kernel_size(channels)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3)).unsqueeze(1)  # N x 1 x C: the channels as a sequence
        gate = torch.sigmoid(self.conv(pooled))
        return x * gate.view(x.shape[0], -1, 1, 1)


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of an N x C x H x W map (eps 1e-6, as timm's LayerNorm2d)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight,
                           self.bias, self.eps)
        return out.permute(0, 3, 1, 2)


class GlobalContext(nn.Module):
    """x + transform(sum_j softmax(conv_attn(x))_j x_j): one context vector added everywhere.

    ``transform`` is 1x1 (C -> C/r), LayerNorm, ReLU, 1x1 (C/r -> C), all with biases; the
    LayerNorm eases the optimisation of the two-layer bottleneck (Sec. 4.2).
    """

    def __init__(self, channels: int, reduction: int = 16,
                 act_layer: Callable[..., nn.Module] = nn.ReLU) -> None:
        super().__init__()
        hidden = reduced_width(channels, reduction)
        if hidden < 2:  # LayerNorm over one channel outputs its bias: no gradient gets in
            raise ResnetsError(f"attn_layer='gc' on {channels} channels with se_reduction="
                               f"{reduction} leaves 1 hidden channel, which its LayerNorm "
                               f"turns into a constant; use se_reduction <= {channels // 2}")
        self.conv_attn = nn.Conv2d(channels, 1, 1, bias=True)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
        self.norm = ChannelLayerNorm(hidden)
        self.act = act_layer(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)

    def context(self, x: torch.Tensor) -> torch.Tensor:
        """The attention-pooled context, N x C x 1 x 1."""
        n, c = x.shape[:2]
        weights = torch.softmax(self.conv_attn(x).reshape(n, 1, -1), dim=-1)  # N x 1 x HW
        return (x.reshape(n, c, -1) * weights).sum(dim=-1).view(n, c, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.norm(self.fc1(self.context(x)))))

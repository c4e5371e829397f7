"""Layers that residual branches add on top of their convolutions.

* :class:`SqueezeExcite`: channel attention, Hu, Shen, Albanie, Sun & Wu, "Squeeze-and-
  Excitation Networks" (CVPR 2018, arXiv:1709.01507). Global average pooling ("squeeze"), a
  bottleneck of two fully connected layers and a sigmoid ("excitation") give one gate per
  channel, which rescales the residual branch's output F(x) before the addition (Fig. 3).
* :class:`DropPath`: stochastic depth, Huang, Sun, Liu, Sedra & Weinberger, "Deep Networks
  with Stochastic Depth" (ECCV 2016, arXiv:1603.09382). In training each sample's residual
  branch is dropped with probability p, so the block reduces to its shortcut for that sample.

CBAM, ECA and global context, the other values of ``attn_layer``, are in attention.py.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..errors import ResnetsError
from .attention import Cbam, Eca, GlobalContext

ATTENTION_LAYERS = ("se", "cbam", "eca", "gc")


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 32 groups of at least 4 channels (Wu and He 2018 use 32)."""
    groups = math.gcd(math.gcd(32, channels), max(channels // 4, 1))
    return nn.GroupNorm(groups, channels)


def check_probability(name: str, p: float) -> float:
    """``p`` if it is a valid drop probability in [0, 1), else a one-line error."""
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= p < 1.0:
        raise ResnetsError(f"{name} must be a probability in [0, 1), got {p!r}")
    return float(p)


def check_reduction(reduction: int) -> int:
    """``reduction`` if it is a valid reduction ratio (an integer >= 1), else one line."""
    if not isinstance(reduction, int) or isinstance(reduction, bool) or reduction < 1:
        raise ResnetsError(f"se_reduction must be an integer >= 1 (the paper uses 16), "
                           f"got {reduction!r}")
    return reduction


class SqueezeExcite(nn.Module):
    """x * sigmoid(fc2(act(fc1(mean over H, W of x)))), one gate per channel.

    The two fully connected layers are 1x1 convolutions with biases (as in the paper's Fig. 3
    and timm's ``SEModule``, whose names ``fc1`` and ``fc2`` these are); the hidden width is
    ``channels // reduction`` (the paper's reduction ratio r, 16 by default), at least 1.
    """

    def __init__(self, channels: int, reduction: int = 16,
                 act_layer: Callable[..., nn.Module] = nn.ReLU) -> None:
        super().__init__()
        check_reduction(reduction)
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
        self.act = act_layer(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The per-channel scales in (0, 1), shape N x C x 1 x 1."""
        squeezed = x.mean(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.fc2(self.act(self.fc1(squeezed))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


def make_attention(attn_layer: str | None, channels: int, se_reduction: int,
                   act_layer: Callable[..., nn.Module]) -> nn.Module | None:
    """The attention module for a branch of ``channels`` outputs, or None for no attention.

    ``se_reduction`` is the reduction ratio r of SE, CBAM and GC (ECA has none).
    """
    if attn_layer is None or attn_layer == "":
        return None
    if attn_layer not in ATTENTION_LAYERS:
        raise ResnetsError(f"unknown attn_layer {attn_layer!r}; use one of {ATTENTION_LAYERS} "
                           "or None")
    check_reduction(se_reduction)  # ECA has no reduction, but a wrong value is still wrong
    if attn_layer == "se":
        return SqueezeExcite(channels, se_reduction, act_layer)
    if attn_layer == "eca":
        return Eca(channels)
    kind = Cbam if attn_layer == "cbam" else GlobalContext
    return kind(channels, se_reduction, act_layer)


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Zero whole samples of ``x`` with probability ``p`` and scale the rest by 1 / (1 - p).

    The scaling keeps the expected value, so at evaluation (where nothing is dropped) the
    branch needs no rescaling: the paper's test-time rule x + (1 - p) F(x) applied to the
    weights, moved to training time as "inverted" dropout does.
    """
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = torch.empty((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device)
    return x * mask.bernoulli_(keep).div_(keep)


class DropPath(nn.Module):
    """:func:`drop_path` as a module: per-sample stochastic depth in training, identity in eval."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = check_probability("drop path probability", p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p:.4f}"


def linear_decay(rate: float, num_blocks: int) -> list[float]:
    """Drop probabilities of blocks 1..L: block l drops with ``rate * l / L`` (Huang et al.
    2016, Eq. 4: survival p_l = 1 - l / L (1 - p_L), with p_L = 1 - ``rate``)."""
    rate = check_probability("drop_path_rate", rate)
    return [rate * (i + 1) / num_blocks for i in range(num_blocks)]

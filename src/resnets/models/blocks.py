"""Residual blocks: each computes y = F(x) + shortcut(x).

He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition" (CVPR 2016,
arXiv:1512.03385), and "Identity Mappings in Deep Residual Networks" (ECCV 2016,
arXiv:1603.05027) for the pre-activation units.

Every block is built from the same arguments, so a network is data: a block class, the number
of blocks per stage and the widths. ``shortcut`` picks the paper's options (Table 3):

* ``"A"``: parameter-free. Identity, or where the shape changes, stride-s subsampling with
  the extra channels zero-padded.
* ``"B"``: identity, with a 1x1 convolution (+ BN) projection only where the shape changes.
* ``"C"``: a projection on every block.
* ``"none"``: no shortcut at all, the "plain" network used to show the degradation problem.

Module names follow torchvision (``conv1``, ``bn1``, ..., ``downsample``), so its checkpoints
load unchanged.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ResnetsError
from .layers import DropPath, check_probability, make_attention

LayerFactory = Callable[..., nn.Module]

SHORTCUTS = ("A", "B", "C", "none")
_SHORTCUT_ALIASES = {
    "a": "A", "zero_pad": "A", "zeropad": "A",
    "b": "B", "projection": "B",
    "c": "C", "projection_all": "C", "all": "C",
    "none": "none", "plain": "none",
}


def canonical_shortcut(kind: str) -> str:
    """Map a shortcut name or alias ("projection", "zero_pad", ...) to A, B, C or none."""
    key = str(kind).lower()
    if key not in _SHORTCUT_ALIASES:
        raise ResnetsError(
            f"unknown shortcut {kind!r}: use 'A' (zero-pad), 'B' (projection where the shape "
            "changes), 'C' (projection everywhere) or 'none' (plain network)"
        )
    return _SHORTCUT_ALIASES[key]


class ZeroPadShortcut(nn.Module):
    """Option A: subsample by ``stride`` and append zero channels; no parameters."""

    def __init__(self, in_chs: int, out_chs: int, stride: int) -> None:
        super().__init__()
        if out_chs < in_chs:
            raise ResnetsError("shortcut 'A' cannot reduce channels; use shortcut='B'")
        self.extra = out_chs - in_chs
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        # F.pad's last pair pads dim -3 (channels) at its end.
        return F.pad(x, (0, 0, 0, 0, 0, self.extra)) if self.extra else x

    def extra_repr(self) -> str:
        return f"extra_channels={self.extra}, stride={self.stride}"


def conv3x3(in_chs: int, out_chs: int, stride: int = 1, dilation: int = 1,
            groups: int = 1) -> nn.Conv2d:
    """3x3 convolution whose padding keeps the size (divided by ``stride``)."""
    return nn.Conv2d(in_chs, out_chs, 3, stride=stride, padding=dilation, dilation=dilation,
                     groups=groups, bias=False)


def conv1x1(in_chs: int, out_chs: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_chs, out_chs, 1, stride=stride, bias=False)


def make_shortcut(kind: str, in_chs: int, out_chs: int, stride: int,
                  norm_layer: LayerFactory | None) -> nn.Module | None:
    """The module applied to x on the shortcut path, or None for the identity.

    ``norm_layer=None`` gives a bare 1x1 projection, as pre-activation units use.
    """
    reshapes = stride != 1 or in_chs != out_chs
    if kind == "A" and reshapes:
        return ZeroPadShortcut(in_chs, out_chs, stride)
    if kind == "C" or (kind == "B" and reshapes):
        proj = conv1x1(in_chs, out_chs, stride)
        return nn.Sequential(proj, norm_layer(out_chs)) if norm_layer else nn.Sequential(proj)
    if kind in SHORTCUTS:
        return None
    raise ResnetsError(f"unknown shortcut {kind!r}; use one of {SHORTCUTS}")


class _Block(nn.Module):
    """What every block shares: its shortcut, and the options on its residual branch F(x).

    Options every block takes (besides its shape arguments), set up by :meth:`_init_options`:

    * ``attn_layer``: ``"se"`` puts squeeze-and-excitation on F(x), so F(x) is rescaled per
      channel before the addition (Hu et al. 2018); ``se_reduction`` is its ratio r.
      ``"cbam"``, ``"eca"`` and ``"gc"`` put those modules there instead (attention.py).
    * ``block_dropout``: dropout before the branch's last convolution; in a basic block that
      is between its two 3x3 convolutions, as in wide ResNets (Zagoruyko & Komodakis 2016).
    * ``drop_path``: the probability of dropping F(x) for a sample in training (stochastic
      depth, Huang et al. 2016); the block is then its shortcut alone.
    """

    expansion = 1
    preact = False

    def _init_shortcut(self, shortcut: str, in_chs: int, out_chs: int, stride: int,
                       norm_layer: LayerFactory | None) -> None:
        self.shortcut_kind = canonical_shortcut(shortcut)
        self.residual = self.shortcut_kind != "none"
        # None means identity (or, for plain blocks, no shortcut at all).
        self.downsample = make_shortcut(self.shortcut_kind, in_chs, out_chs, stride, norm_layer)

    def _init_options(self, out_chs: int, act_layer: LayerFactory, attn_layer: str | None,
                      se_reduction: int, block_dropout: float, drop_path: float) -> None:
        # Modules exist only when used: the default blocks keep torchvision's module tree.
        self.se = make_attention(attn_layer, out_chs, se_reduction, act_layer)
        block_dropout = check_probability("block_dropout", block_dropout)
        self.drop = nn.Dropout(block_dropout) if block_dropout else nn.Identity()
        drop_path = check_probability("drop_path_rate", drop_path)
        if drop_path and not self.residual:
            raise ResnetsError("stochastic depth drops the residual branch, and a plain "
                               "network has nothing else: set drop_path_rate=0 or a shortcut")
        self.drop_path = DropPath(drop_path) if drop_path else nn.Identity()

    def _init_layers(self, convs: list[nn.Conv2d], norm_layer: LayerFactory,
                     act_layer: LayerFactory) -> None:
        """Register the branch as ``conv1``, ``bn1``, ``act1``, ``conv2``, ... (torchvision's
        names and order): each convolution followed by its BN and activation, or, in a
        pre-activation block, preceded by them. A post-activation block's last activation
        follows the sum: ``act_out``."""
        for i, conv in enumerate(convs, 1):
            if self.preact:  # BN and activation of the convolution's input, then it
                setattr(self, f"bn{i}", norm_layer(conv.in_channels))
                setattr(self, f"act{i}", act_layer(inplace=True))
                setattr(self, f"conv{i}", conv)
            else:  # the convolution, then BN and activation of its output
                setattr(self, f"conv{i}", conv)
                setattr(self, f"bn{i}", norm_layer(conv.out_channels))
                setattr(self, "act_out" if i == len(convs) else f"act{i}",
                        act_layer(inplace=True))

    def convs(self, x: torch.Tensor) -> torch.Tensor:
        """The branch's convolutions (and norms, activations, dropout)."""
        raise NotImplementedError

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """F(x), the residual function: the convolutions, then attention on their output."""
        out = self.convs(x)
        return out if self.se is None else self.se(out)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.downsample is None else self.downsample(x)

    def zero_init_last(self) -> None:
        """Start the block as the identity by zeroing the last BN's scale (Goyal et al. 2017)."""
        raise NotImplementedError


def bottleneck_width(planes: int, groups: int, base_width: int) -> int:
    """Width of a bottleneck's 3x3: ``planes`` scaled by ``base_width / 64``, times ``groups``.

    ``groups=1, base_width=64`` is ResNet's; ``base_width=128`` doubles it (wide ResNet-50-2);
    ``groups=32, base_width=4`` is ResNeXt's 32x4d (torchvision's ``width_per_group``).
    """
    if groups < 1 or base_width < 1:
        raise ResnetsError(f"groups and base_width must be >= 1, got {groups} and {base_width}")
    return int(planes * (base_width / 64.0)) * groups


def check_inner_widths(widths: Sequence[int], full: tuple[int, ...],
                       groups: int) -> tuple[int, ...]:
    """The channels between a branch's convolutions: ``full`` (the architecture's own), or
    ``widths`` of a pruned branch (``resnets prune``), one per inner layer, each at most
    ``full`` and a multiple of the 3x3's ``groups``."""
    if not widths:
        return full
    widths = tuple(widths)
    if len(widths) != len(full) or any(
            isinstance(w, bool) or not isinstance(w, int) or w < groups or w % groups
            or w > f for w, f in zip(widths, full)):
        raise ResnetsError(f"inner widths {widths} do not fit a branch of widths {full}: give "
                           f"{len(full)} integers, each at most its full width and a multiple "
                           f"of groups={groups}")
    return widths


class _BasicShape(_Block):
    """Two 3x3 convolutions, the first with the stride: a basic block's branch (Fig. 2 left)."""

    expansion = 1
    inner_layers = 1  # channel sets between the branch's convolutions (prunable widths)

    def __init__(self, in_chs: int, planes: int, stride: int = 1, *, dilation: int = 1,
                 first_dilation: int | None = None, shortcut: str = "B",
                 norm_layer: LayerFactory = nn.BatchNorm2d, act_layer: LayerFactory = nn.ReLU,
                 attn_layer: str | None = None, se_reduction: int = 16,
                 block_dropout: float = 0.0, drop_path: float = 0.0,
                 inner_widths: Sequence[int] = ()) -> None:
        super().__init__()
        out_chs = planes * self.expansion
        (width,) = check_inner_widths(inner_widths, (planes,), 1)
        self._init_layers([conv3x3(in_chs, width, stride, first_dilation or dilation),
                           conv3x3(width, out_chs, 1, dilation)], norm_layer, act_layer)
        self._init_shortcut(shortcut, in_chs, out_chs, stride, norm_layer)
        self._init_options(out_chs, act_layer, attn_layer, se_reduction, block_dropout,
                           drop_path)


class _BottleneckShape(_Block):
    """1x1 reduce, 3x3, 1x1 expand (x4): a bottleneck's branch (Fig. 5).

    The stride sits on the 3x3 convolution ("ResNet v1.5", as torchvision does), or with
    ``stride_in_1x1=True`` on the first 1x1 as in the original paper. ``groups`` and
    ``base_width`` set the 3x3's width and grouping (:func:`bottleneck_width`): ResNeXt's
    aggregated transformations (Xie et al. 2017, Fig. 3c) and wide ResNet-50-2.
    """

    expansion = 4
    inner_layers = 2

    def __init__(self, in_chs: int, planes: int, stride: int = 1, *, dilation: int = 1,
                 first_dilation: int | None = None, shortcut: str = "B",
                 norm_layer: LayerFactory = nn.BatchNorm2d, act_layer: LayerFactory = nn.ReLU,
                 stride_in_1x1: bool = False, groups: int = 1, base_width: int = 64,
                 attn_layer: str | None = None, se_reduction: int = 16,
                 block_dropout: float = 0.0, drop_path: float = 0.0,
                 inner_widths: Sequence[int] = ()) -> None:
        super().__init__()
        out_chs = planes * self.expansion
        width = bottleneck_width(planes, groups, base_width)
        reduce, middle = check_inner_widths(inner_widths, (width, width), groups)
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self._init_layers([conv1x1(in_chs, reduce, s1),
                           conv3x3(reduce, middle, s3, first_dilation or dilation, groups),
                           conv1x1(middle, out_chs)], norm_layer, act_layer)
        self._init_shortcut(shortcut, in_chs, out_chs, stride, norm_layer)
        self._init_options(out_chs, act_layer, attn_layer, se_reduction, block_dropout,
                           drop_path)


class _PostActBlock(_Block):
    """y = ReLU(F(x) + shortcut(x)): the original residual unit (He et al. 2015, Fig. 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fx = self.drop_path(self.branch(x))  # F(x); stochastic depth drops it per sample
        y = fx + self.shortcut(x) if self.residual else fx  # a plain block has no shortcut
        return self.act_out(y)


class BasicBlock(_BasicShape, _PostActBlock):
    """Two 3x3 convolutions: y = ReLU(F(x) + shortcut(x)) (He et al. 2015, Fig. 2 left).

    F(x) = BN(conv3x3(ReLU(BN(conv3x3(x))))). With ``shortcut="none"`` the block is the plain
    counterpart, y = ReLU(F(x)), with exactly the same layers.
    """

    def convs(self, x: torch.Tensor) -> torch.Tensor:
        out = self.drop(self.act1(self.bn1(self.conv1(x))))
        return self.bn2(self.conv2(out))

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn2.weight)


class BottleneckBlock(_BottleneckShape, _PostActBlock):
    """1x1 reduce, 3x3, 1x1 expand (x4): y = ReLU(F(x) + shortcut(x)) (He et al. 2015, Fig. 5).

    F(x) = BN(conv1x1(ReLU(BN(conv3x3(ReLU(BN(conv1x1(x)))))))); see :class:`_BottleneckShape`
    for the stride, ``groups`` and ``base_width``.
    """

    def convs(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.drop(self.act2(self.bn2(self.conv2(out))))
        return self.bn3(self.conv3(out))

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn3.weight)


class _PreActBlock(_Block):
    """Pre-activation: y = x + F(x) with F starting from BN-ReLU (He et al. 2016, Fig. 4e).

    Nothing follows the addition, so the identity path runs clean from block to block. A
    projection shortcut reads the pre-activated input, a parameter-free one reads x itself.
    """

    preact = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act1(self.bn1(x))  # the pre-activation, shared by F and a projection
        fx = self.drop_path(self.branch(pre))
        return fx + self.shortcut(pre if self.projects else x) if self.residual else fx

    def _init_shortcut(self, shortcut: str, in_chs: int, out_chs: int, stride: int,
                       norm_layer: LayerFactory | None) -> None:
        # A projection reads the pre-activated input: a bare 1x1, with no BN of its own.
        super()._init_shortcut(shortcut, in_chs, out_chs, stride, None)
        self.projects = isinstance(self.downsample, nn.Sequential)  # a 1x1 reads pre

    def zero_init_last(self) -> None:
        raise ResnetsError(
            "zero_init_residual needs a BN at the end of the residual branch; pre-activation "
            "blocks end with a convolution, so leave zero_init_residual=False"
        )


class PreActBasicBlock(_BasicShape, _PreActBlock):
    """Pre-activation basic block: F(x) = conv3x3(ReLU(BN(conv3x3(ReLU(BN(x))))))."""

    def convs(self, pre: torch.Tensor) -> torch.Tensor:
        """Given the pre-activated input ReLU(BN(x))."""
        return self.conv2(self.drop(self.act2(self.bn2(self.conv1(pre)))))


class PreActBottleneckBlock(_BottleneckShape, _PreActBlock):
    """Pre-activation bottleneck: BN-ReLU-conv1x1, BN-ReLU-conv3x3, BN-ReLU-conv1x1 (x4)."""

    def convs(self, pre: torch.Tensor) -> torch.Tensor:
        """Given the pre-activated input ReLU(BN(x))."""
        out = self.act2(self.bn2(self.conv1(pre)))
        out = self.drop(self.act3(self.bn3(self.conv2(out))))
        return self.conv3(out)

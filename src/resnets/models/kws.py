"""Residual networks for small-footprint keyword spotting: res8, res15, res26 and -narrow.

Tang & Lin, "Deep Residual Learning for Small-Footprint Keyword Spotting" (ICASSP 2018,
arXiv:1710.10361). The input is one log-mel spectrogram, 1 x 40 bands x 101 frames (one
second of 16 kHz audio, 10 ms hop). A bias-free 3x3 convolution and a ReLU make the first
feature map (res8 and res26 then average-pool it); residual blocks follow, each two
``conv -> ReLU -> BN`` layers whose output is added to the block input just before the
second BN; an average over time and frequency feeds one fully connected softmax layer.

The paper's names have hyphens ("res8-narrow"); the registry's are Python identifiers:
``res8_narrow``, ``res15_narrow``, ``res26_narrow``. The narrow networks have 19 feature
maps instead of 45. The batch norms have no affine parameters, as in the authors' Honk
implementation, so the parameter counts match the paper's Table 1 (res15: 238K, res8-narrow:
19.9K).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from ..errors import ResnetsError
from .base import ClassifierModel
from .features import FeatureStep
from .layers import check_probability
from .registry import build, register_model

PAPER = "Tang & Lin 2018, arXiv:1710.10361, Table 1"
SPECTROGRAM_SHAPE = (1, 40, 101)  # channels x mel bands x frames (1 s of audio, 10 ms hop)
SPEECH_COMMANDS_CLASSES = 12  # ten keywords, "silence" and "unknown" (Warden 2018)


def _conv(channels_in: int, channels_out: int, dilation: int = 1) -> nn.Conv2d:
    """Bias-free 3x3 convolution keeping the map's size (the paper's layers have no bias)."""
    return nn.Conv2d(channels_in, channels_out, 3, padding=dilation, dilation=dilation,
                     bias=False)


def _norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, affine=False)


class KWSBlock(nn.Module):
    """One residual block of Tang & Lin (2018), Figure 1.

    With ``s`` the running sum of the residual stream, the block computes
    ``s + ReLU(conv2(BN(ReLU(conv1(BN_in(s))))))``. ``BN_in`` is the batch norm the paper
    places after the previous block's addition (none before the first block, whose input is
    the first convolution's output), so the sum itself travels along the shortcut.
    """

    def __init__(self, channels: int, dilations: tuple[int, int], first: bool) -> None:
        super().__init__()
        self.norm_in = nn.Identity() if first else _norm(channels)
        self.conv1 = _conv(channels, channels, dilations[0])
        self.bn1 = _norm(channels)
        self.conv2 = _conv(channels, channels, dilations[1])
        self.relu = nn.ReLU(inplace=False)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        h = self.bn1(self.relu(self.conv1(self.norm_in(s))))
        return s + self.relu(self.conv2(h))


class KWSResNet(ClassifierModel):
    """Tang & Lin's keyword-spotting ResNet: ``layers`` 3x3 convolutions after the first.

    ``layers`` counts the convolutions inside the residual part (res15: 13, so 6 blocks and
    one last ``conv -> ReLU -> BN`` layer); ``dilate`` gives layer i the dilation
    2^floor(i/3) (res15, whose maps keep their full size); ``pool`` is the average pooling
    (frequency, time) after the first convolution (res8: 3 x 4, res26: 2 x 2).
    There is no ``zero_init_residual``: the batch norms are not affine, so there is no
    scale to zero.
    """

    def __init__(self, layers: int = 13, channels: int = 45, dilate: bool = True,
                 pool: tuple[int, int] = (1, 1), num_classes: int = SPEECH_COMMANDS_CLASSES,
                 in_chans: int = 1, drop_rate: float = 0.0,
                 grad_checkpointing: bool = False) -> None:
        super().__init__()
        if layers < 2:
            raise ResnetsError(f"a keyword-spotting ResNet needs at least 2 layers, got {layers}")
        self.in_chans = in_chans
        self.conv0 = _conv(in_chans, channels)
        self.relu = nn.ReLU(inplace=False)
        self.pool = nn.AvgPool2d(pool) if pool != (1, 1) else nn.Identity()
        dilation = [2 ** (i // 3) if dilate else 1 for i in range(layers)]
        self.blocks = nn.Sequential(*[
            KWSBlock(channels, (dilation[2 * b], dilation[2 * b + 1]), first=b == 0)
            for b in range(layers // 2)])
        self.norm_out = _norm(channels)  # the BN after the last block's addition
        self.tail = None  # an odd layer count ends with one plain conv -> ReLU -> BN
        if layers % 2:
            self.tail = nn.Sequential(_conv(channels, channels, dilation[-1]), nn.ReLU(),
                                      _norm(channels))
        reduction = pool[1]
        self.feature_info = [dict(num_chs=channels, reduction=reduction, module=module)
                             for module in ["pool"] + [f"blocks.{b}"
                                                       for b in range(len(self.blocks))]]
        self.final_norm_modules = ("norm_out",) + (("tail",) if self.tail is not None else ())
        self._init_head(channels, num_classes, check_probability("drop_rate", drop_rate))
        self.set_grad_checkpointing(grad_checkpointing)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.conv0(x)))

    def feature_steps(self) -> list[FeatureStep]:
        """The stem, then the residual stream after each block."""
        return [FeatureStep(("conv0", "relu", "pool"), self.stem),
                *[FeatureStep((f"blocks.{b}",), partial(self.run_stage, block))
                  for b, block in enumerate(self.blocks)]]

    def forward_final_norm(self, x: torch.Tensor) -> torch.Tensor:
        """The BN after the last addition, and the odd layer's tail where there is one."""
        h = self.norm_out(x)
        return h if self.tail is None else self.tail(h)


def _build(name: str, layers: int, channels: int, dilate: bool, pool: tuple[int, int],
           options: dict) -> KWSResNet:
    fixed = dict(layers=layers, channels=channels, dilate=dilate, pool=pool)
    return build(KWSResNet, fixed, options, name)


_KIND = dict(family="kws", input_size=101, num_classes=SPEECH_COMMANDS_CLASSES,
             reference=PAPER, modality="audio", input_shape=SPECTROGRAM_SHAPE)


@register_model(published_params="110K", **_KIND)
def res8(**options) -> KWSResNet:
    """res8: 6 layers, 45 maps, 3 x 4 average pooling after the first convolution."""
    return _build("res8", 6, 45, False, (3, 4), options)


@register_model(published_params="19.9K", **_KIND)
def res8_narrow(**options) -> KWSResNet:
    """res8-narrow in the paper: res8 with 19 feature maps."""
    return _build("res8_narrow", 6, 19, False, (3, 4), options)


@register_model(published_params="238K", **_KIND)
def res15(**options) -> KWSResNet:
    """res15: 13 layers, 45 maps, dilation 2^floor(i/3), no pooling."""
    return _build("res15", 13, 45, True, (1, 1), options)


@register_model(published_params="42.6K", **_KIND)
def res15_narrow(**options) -> KWSResNet:
    """res15-narrow in the paper: res15 with 19 feature maps."""
    return _build("res15_narrow", 13, 19, True, (1, 1), options)


@register_model(published_params="438K", **_KIND)
def res26(**options) -> KWSResNet:
    """res26: 24 layers, 45 maps, 2 x 2 average pooling after the first convolution."""
    return _build("res26", 24, 45, False, (2, 2), options)


@register_model(published_params="78.4K", **_KIND)
def res26_narrow(**options) -> KWSResNet:
    """res26-narrow in the paper: res26 with 19 feature maps."""
    return _build("res26_narrow", 24, 19, False, (2, 2), options)

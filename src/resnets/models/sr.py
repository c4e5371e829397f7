"""Super-resolution networks: EDSR and VDSR, and their twins without skips.

EDSR (Lim et al. 2017, "Enhanced Deep Residual Networks for Single Image Super-Resolution",
arXiv:1707.02921) works at the low resolution: a 3x3 convolution, residual blocks
``x + s * conv(ReLU(conv(x)))`` without batch normalisation (``s`` the residual scaling:
1 in EDSR-baseline, 0.1 in the 256-feature EDSR, where larger sums made training unstable),
one more convolution, a global skip from the first convolution's output, and a pixel-shuffle
upsampler (x2 and x4: one or two convolutions to 4C channels each followed by a 2x shuffle;
x3: one to 9C and a 3x shuffle) before a last convolution back to the image's channels. The
DIV2K mean colour is subtracted first and added back last, as in the authors' code.
EDSR-baseline has 16 blocks of 64 features; EDSR 32 of 256.

VDSR (Kim et al. 2016, "Accurate Image Super-Resolution Using Very Deep Convolutional
Networks", arXiv:1511.04587) works at the high resolution: 20 convolutions of 64 features
with ReLUs between them learn the residual that is added to the bicubic upsampling of the
input (the paper feeds the interpolated image; here the network interpolates it, so every
model takes the low-resolution image).

``residual=False`` builds the same layers without any skip (no block skips, no global skip,
no residual scaling), with the same parameters: the ablation of the skips.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ResnetsError
from .registry import build, register_model

EDSR_PAPER = ("Lim et al. 2017, Enhanced Deep Residual Networks for Single Image "
              "Super-Resolution (arXiv:1707.02921; parameters: the authors' EDSR-PyTorch)")
VDSR_PAPER = ("Kim et al. 2016, Accurate Image Super-Resolution Using Very Deep "
              "Convolutional Networks (arXiv:1511.04587)")
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)  # RGB mean of the DIV2K training images (EDSR's code)
SCALES = (2, 3, 4)
LR_PATCH = 48  # low-resolution side of EDSR's training patches (96-pixel HR patches at x2)


def bicubic_upscale(images: torch.Tensor, scale: int) -> torch.Tensor:
    """``images`` (N x C x h x w) enlarged ``scale`` times by bicubic interpolation."""
    return F.interpolate(images, scale_factor=scale, mode="bicubic", align_corners=False)


def _conv(channels_in: int, channels_out: int) -> nn.Conv2d:
    """3x3 convolution with a bias, keeping the map's size (no normalisation follows)."""
    return nn.Conv2d(channels_in, channels_out, 3, padding=1)


def _check_scale(scale: int) -> None:
    if scale not in SCALES:
        raise ResnetsError(f"super-resolution scale must be one of {SCALES}, got {scale}")


class EDSRBlock(nn.Module):
    """``x + res_scale * conv2(ReLU(conv1(x)))``; without ``residual`` the branch alone."""

    def __init__(self, features: int, res_scale: float, residual: bool) -> None:
        super().__init__()
        self.conv1, self.relu = _conv(features, features), nn.ReLU(inplace=True)
        self.conv2 = _conv(features, features)
        self.res_scale, self.residual = res_scale, residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.conv2(self.relu(self.conv1(x)))
        return x + self.res_scale * branch if self.residual else branch


def pixel_shuffle_upsampler(scale: int, features: int) -> nn.Sequential:
    """x2 / x4: one / two (conv to 4C, 2x pixel shuffle); x3: conv to 9C, 3x shuffle."""
    _check_scale(scale)
    factors = [3] if scale == 3 else [2] * int(math.log2(scale))
    layers: list[nn.Module] = []
    for factor in factors:
        layers += [_conv(features, factor * factor * features), nn.PixelShuffle(factor)]
    return nn.Sequential(*layers)


class EDSR(nn.Module):
    """EDSR of ``blocks`` residual blocks of ``features`` channels, upscaling ``scale``
    times (module docstring)."""

    def __init__(self, scale: int = 2, blocks: int = 16, features: int = 64,
                 res_scale: float = 1.0, residual: bool = True, in_chans: int = 3) -> None:
        super().__init__()
        if blocks < 1 or features < 1 or in_chans not in (1, 3):
            raise ResnetsError(f"EDSR needs blocks and features >= 1 and 1 or 3 image "
                               f"channels, got {blocks}, {features}, {in_chans}")
        self.scale, self.in_chans, self.residual = scale, in_chans, residual
        # A constant, not a buffer: neither part of the weights nor broadcast by DDP.
        self.mean_colour = DIV2K_MEAN if in_chans == 3 else (sum(DIV2K_MEAN) / 3,)
        self.head = _conv(in_chans, features)
        self.body = nn.Sequential(*(EDSRBlock(features, res_scale, residual)
                                    for _ in range(blocks)), _conv(features, features))
        self.tail = nn.Sequential(pixel_shuffle_upsampler(scale, features),
                                  _conv(features, in_chans))

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """The mean colour, to subtract from and add back to images like ``x``."""
        return torch.tensor(self.mean_colour, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.mean(x)
        features = self.head(x - mean)
        body = self.body(features)
        return self.tail(body + features if self.residual else body) + mean


class VDSR(nn.Module):
    """VDSR: ``layers`` 3x3 convolutions of ``features`` channels on the bicubic upsampling
    of the input, which the global skip adds to their output (module docstring)."""

    def __init__(self, scale: int = 2, layers: int = 20, features: int = 64,
                 residual: bool = True, in_chans: int = 3) -> None:
        super().__init__()
        _check_scale(scale)
        if layers < 2 or features < 1 or in_chans not in (1, 3):
            raise ResnetsError(f"VDSR needs layers >= 2, features >= 1 and 1 or 3 image "
                               f"channels, got {layers}, {features}, {in_chans}")
        self.scale, self.in_chans, self.residual = scale, in_chans, residual
        convs = [_conv(in_chans, features)]
        convs += [_conv(features, features) for _ in range(layers - 2)]
        body: list[nn.Module] = []
        for conv in convs:
            body += [conv, nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*body, _conv(features, in_chans))
        for m in self.body:  # He et al. 2015's initialisation, as the paper trains with
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        upscaled = bicubic_upscale(x, self.scale)
        residual = self.body(upscaled)
        return upscaled + residual if self.residual else residual


def _edsr(name: str, scale: int, blocks: int, features: int, res_scale: float,
          options: dict) -> EDSR:
    defaults = {"blocks": blocks, "features": features, "res_scale": res_scale}
    return build(EDSR, {"scale": scale}, {**defaults, **options}, name)


_EDSR = dict(family="edsr", input_size=LR_PATCH, num_classes=0, reference=EDSR_PAPER,
             task="super-resolution")
_VDSR = dict(family="vdsr", input_size=LR_PATCH, num_classes=0, reference=VDSR_PAPER,
             task="super-resolution")


@register_model(published_params="1.37M", **_EDSR)
def edsr_baseline_x2(**options) -> EDSR:
    """EDSR-baseline x2: 16 residual blocks of 64 features (Lim et al. 2017)."""
    return _edsr("edsr_baseline_x2", 2, 16, 64, 1.0, options)


@register_model(published_params="1.55M", **_EDSR)
def edsr_baseline_x3(**options) -> EDSR:
    """EDSR-baseline x3: 16 residual blocks of 64 features (Lim et al. 2017)."""
    return _edsr("edsr_baseline_x3", 3, 16, 64, 1.0, options)


@register_model(published_params="1.52M", **_EDSR)
def edsr_baseline_x4(**options) -> EDSR:
    """EDSR-baseline x4: 16 residual blocks of 64 features (Lim et al. 2017)."""
    return _edsr("edsr_baseline_x4", 4, 16, 64, 1.0, options)


@register_model(published_params="40.7M", **_EDSR)
def edsr_x2(**options) -> EDSR:
    """EDSR x2: 32 residual blocks of 256 features, residual scaling 0.1 (Lim et al. 2017)."""
    return _edsr("edsr_x2", 2, 32, 256, 0.1, options)


@register_model(published_params="43.7M", **_EDSR)
def edsr_x3(**options) -> EDSR:
    """EDSR x3: 32 residual blocks of 256 features, residual scaling 0.1 (Lim et al. 2017)."""
    return _edsr("edsr_x3", 3, 32, 256, 0.1, options)


@register_model(published_params="43.1M", **_EDSR)
def edsr_x4(**options) -> EDSR:
    """EDSR x4: 32 residual blocks of 256 features, residual scaling 0.1 (Lim et al. 2017)."""
    return _edsr("edsr_x4", 4, 32, 256, 0.1, options)


@register_model(**_VDSR)
def vdsr_x2(**options) -> VDSR:
    """VDSR x2: 20 convolutions on the bicubic upsampling, a global residual (Kim et al.)."""
    return build(VDSR, {"scale": 2}, options, "vdsr_x2")


@register_model(**_VDSR)
def vdsr_x3(**options) -> VDSR:
    """VDSR x3: 20 convolutions on the bicubic upsampling, a global residual (Kim et al.)."""
    return build(VDSR, {"scale": 3}, options, "vdsr_x3")


@register_model(**_VDSR)
def vdsr_x4(**options) -> VDSR:
    """VDSR x4: 20 convolutions on the bicubic upsampling, a global residual (Kim et al.)."""
    return build(VDSR, {"scale": 4}, options, "vdsr_x4")

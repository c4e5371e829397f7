"""The quality of a restored image against its original: PSNR and SSIM, as the
super-resolution papers report them.

Both are pure functions of two tensors, ``C x H x W`` (one image, a 0-dim result) or
``N x C x H x W`` (one value per image). Values span ``[0, data_range]``. As in the EDSR
(Lim et al. 2017) and VDSR (Kim et al. 2016) evaluations, ``y_channel=True`` scores the
luminance Y of ITU-R BT.601 of RGB images (the Y of MATLAB's ``rgb2ycbcr``: 16 to 235 on
the 8-bit scale; a 1-channel image is taken as its own luminance), and ``crop_border``
leaves out that many pixels on each side, usually the scale factor: the borders an
upsampler cannot know. Arithmetic is in float64, so scores do not depend on the inputs'
precision.

SSIM is that of Wang et al. 2004 ("Image quality assessment: from error visibility to
structural similarity"): an 11 x 11 Gaussian window of standard deviation 1.5, K1 = 0.01,
K2 = 0.03, statistics over the windows that fit inside the image ("valid"), the mean of the
SSIM map over its pixels and channels (no downsampling of large images first).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..errors import ResnetsError

# Y' = 16 + 65.481 R' + 128.553 G' + 24.966 B' on the 8-bit scale, for R'G'B' in [0, 1].
BT601_LUMA = (65.481, 128.553, 24.966)
BT601_BLACK = 16.0


def luminance(images: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """The BT.601 luminance (``... x 1 x H x W``) of RGB ``images`` (``... x 3 x H x W``)
    in ``[0, data_range]``; a 1-channel image is returned as it is."""
    if images.shape[-3] == 1:
        return images
    if images.shape[-3] != 3:
        raise ResnetsError(f"luminance needs RGB or 1-channel images, got "
                           f"{images.shape[-3]} channels")
    weights = torch.tensor(BT601_LUMA, dtype=images.dtype, device=images.device) / 255
    y = (images * weights.view(3, 1, 1)).sum(-3, keepdim=True)
    return y + BT601_BLACK / 255 * data_range


def _prepared(pred: torch.Tensor, target: torch.Tensor, data_range: float, crop_border: int,
              y_channel: bool) -> torch.Tensor:
    """``pred`` and ``target`` stacked (2 x N x C x H x W, float64), cropped, as luminance."""
    if pred.shape != target.shape:
        raise ResnetsError(f"the images to compare differ in shape: {tuple(pred.shape)} and "
                           f"{tuple(target.shape)}")
    if pred.dim() not in (3, 4):
        raise ResnetsError(f"images are C x H x W or N x C x H x W, got shape "
                           f"{tuple(pred.shape)}")
    if data_range <= 0 or crop_border < 0:
        raise ResnetsError(f"data_range must be positive and crop_border not negative, got "
                           f"{data_range} and {crop_border}")
    pair = torch.stack([pred.to(torch.float64), target.to(torch.float64)])
    if pair.dim() == 4:
        pair = pair[:, None]
    height, width = pair.shape[-2:]
    if min(height, width) <= 2 * crop_border:
        raise ResnetsError(f"a border of {crop_border} pixels leaves nothing of a "
                           f"{width}x{height} image")
    if crop_border:
        pair = pair[..., crop_border:height - crop_border, crop_border:width - crop_border]
    return luminance(pair, data_range) if y_channel else pair


def _per_image(values: torch.Tensor, batched: bool) -> torch.Tensor:
    return values if batched else values[0]


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0,
         crop_border: int = 0, y_channel: bool = False) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``, per image;
    ``inf`` for identical images."""
    pred_, target_ = _prepared(pred, target, data_range, crop_border, y_channel)
    mse = (pred_ - target_).pow(2).mean(dim=(1, 2, 3))
    return _per_image(10 * torch.log10(data_range ** 2 / mse), pred.dim() == 4)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """The normalised 1-D Gaussian of ``size`` taps (float64), centred on the middle one."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    weights = torch.exp(-offsets.pow(2) / (2 * sigma ** 2))
    return weights / weights.sum()


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0,
         crop_border: int = 0, y_channel: bool = False, window: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Structural similarity of Wang et al. 2004 per image (the mean of its SSIM map over
    pixels and channels); 1 for identical images."""
    pair = _prepared(pred, target, data_range, crop_border, y_channel)
    height, width = pair.shape[-2:]
    if min(height, width) < window:
        raise ResnetsError(f"SSIM's {window}x{window} window does not fit a {width}x{height} "
                           f"image (after a border of {crop_border}); use larger images")
    channels = pair.shape[2]
    taps = gaussian_window(window, sigma).to(pair.device)
    rows = taps.view(1, 1, window, 1).repeat(channels, 1, 1, 1)
    cols = taps.view(1, 1, 1, window).repeat(channels, 1, 1, 1)

    def local_mean(x: torch.Tensor) -> torch.Tensor:  # separable: columns, then rows
        return F.conv2d(F.conv2d(x, cols, groups=channels), rows, groups=channels)

    x, y = pair[0], pair[1]
    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x * mu_x
    var_y = local_mean(y * y) - mu_y * mu_y
    cov = local_mean(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)
                / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)))
    return _per_image(ssim_map.mean(dim=(1, 2, 3)), pred.dim() == 4)


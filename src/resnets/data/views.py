"""Random views of whole batches on the training device, for self-supervised learning.

SimCLR (Chen et al. 2020, arXiv:2002.05709) and BYOL (Grill et al. 2020, arXiv:2006.07733)
learn by matching two random views of each image: a random resized crop, a horizontal flip,
colour jitter (brightness, contrast, saturation, hue in a random order), random grayscale,
Gaussian blur and (BYOL) solarisation. torchvision's transforms draw one set of parameters
per call, so a batch would need a Python loop per image on the CPU; these are written here
because they take a batch that already lives on the training device and give every image
its own draw. As in :mod:`resnets.data.augment`, every draw comes from the
``torch.Generator`` passed in, so a batch's views are reproducible from its seed alone.

Images are float N x C x H x W on the 0..1 scale (3 channels, or 1: the colour operations
then keep what applies to grey images: brightness and contrast).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..errors import DataError
from ..limits import FRACTION, Limit, check_fields, number
from .augment import random_flip

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601-2 luma, as torchvision's rgb_to_grayscale
CROP_TRIES = 10  # candidate boxes per image before falling back to the whole image


def _uniform(n: int, low: float, high: float, generator: torch.Generator,
             device: torch.device) -> torch.Tensor:
    # Drawn where the generator lives (a CUDA generator cannot fill CPU tensors), then moved.
    u = torch.rand(n, generator=generator, device=generator.device).to(device)
    return low + (high - low) * u


def crop_boxes(n: int, height: int, width: int, scale: tuple[float, float],
               ratio: tuple[float, float], generator: torch.Generator,
               device: torch.device = torch.device("cpu")) -> torch.Tensor:
    """N x 4 integer boxes (top, left, box height, box width), one per image, drawn as
    torchvision's ``RandomResizedCrop.get_params``: area a fraction in ``scale`` of the image,
    aspect ratio (width / height) log-uniform in ``ratio``; the first of ``CROP_TRIES``
    candidates that fits, else the whole image cropped to the nearest allowed ratio."""
    area = height * width
    tries = n * CROP_TRIES
    target = area * _uniform(tries, *scale, generator, device)
    aspect = torch.exp(_uniform(tries, math.log(ratio[0]), math.log(ratio[1]), generator,
                                device))
    box_w = torch.sqrt(target * aspect).round().long().view(n, CROP_TRIES)
    box_h = torch.sqrt(target / aspect).round().long().view(n, CROP_TRIES)
    fits = (box_w > 0) & (box_w <= width) & (box_h > 0) & (box_h <= height)
    first = torch.where(fits.any(1), fits.float().argmax(1), -1)
    # Fallback (no candidate fits): the largest centred box whose ratio is within bounds.
    image_ratio = width / height
    if image_ratio < ratio[0]:
        fall_w, fall_h = width, round(width / ratio[0])
    elif image_ratio > ratio[1]:
        fall_w, fall_h = round(height * ratio[1]), height
    else:
        fall_w, fall_h = width, height
    rows = torch.arange(n, device=device)
    pick = first.clamp_min(0)
    ok = first >= 0
    h = torch.where(ok, box_h[rows, pick], fall_h)
    w = torch.where(ok, box_w[rows, pick], fall_w)
    # Offsets uniform over the positions the box can take.
    top = (_uniform(n, 0, 1, generator, device) * (height - h + 1)).floor().long()
    left = (_uniform(n, 0, 1, generator, device) * (width - w + 1)).floor().long()
    top = torch.where(ok, top, (height - h) // 2)
    left = torch.where(ok, left, (width - w) // 2)
    return torch.stack([top, left, h, w], dim=1)


def resized_crop(batch: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]
                 ) -> torch.Tensor:
    """Each image's box (top, left, height, width) resized to ``size`` (height, width),
    bilinearly (one ``grid_sample`` for the batch)."""
    n, _, height, width = batch.shape
    top, left, h, w = boxes.to(batch.dtype).unbind(1)
    theta = torch.zeros(n, 2, 3, dtype=batch.dtype, device=batch.device)
    # Output coordinates -1..1 map onto the box's pixel edges (align_corners=False).
    theta[:, 0, 0] = w / width
    theta[:, 0, 2] = (2 * left + w) / width - 1
    theta[:, 1, 1] = h / height
    theta[:, 1, 2] = (2 * top + h) / height - 1
    grid = F.affine_grid(theta, [n, batch.shape[1], *size], align_corners=False)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="border",
                         align_corners=False)


def grayscale(batch: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W luma of RGB images (grey images as they are)."""
    if batch.shape[1] == 1:
        return batch
    weights = torch.tensor(GRAY_WEIGHTS, dtype=batch.dtype, device=batch.device)
    return (batch * weights.view(1, 3, 1, 1)).sum(1, keepdim=True)


def _per_image(factor: torch.Tensor) -> torch.Tensor:
    return factor.view(-1, 1, 1, 1)


def adjust_brightness(batch: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Each image times its factor (0: black, 1: unchanged)."""
    return (batch * _per_image(factor)).clamp(0, 1)


def adjust_contrast(batch: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Each image blended with its mean grey level (0: flat grey, 1: unchanged)."""
    mean = grayscale(batch).mean(dim=(1, 2, 3), keepdim=True)
    f = _per_image(factor)
    return (f * batch + (1 - f) * mean).clamp(0, 1)


def adjust_saturation(batch: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Each image blended with its own grayscale (0: grey, 1: unchanged)."""
    if batch.shape[1] == 1:
        return batch
    f = _per_image(factor)
    return (f * batch + (1 - f) * grayscale(batch)).clamp(0, 1)


def adjust_hue(batch: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Each image's hue rotated by its shift, a fraction of the colour circle (-0.5..0.5)."""
    if batch.shape[1] == 1:
        return batch
    r, g, b = batch.unbind(1)
    top, _ = batch.max(1)
    bottom, _ = batch.min(1)
    span = top - bottom
    safe = torch.where(span > 0, span, torch.ones_like(span))
    saturation = torch.where(top > 0, span / torch.where(top > 0, top, torch.ones_like(top)),
                             torch.zeros_like(top))
    # Hue in sixths of the circle from whichever channel is the largest.
    hue = torch.where(top == r, ((g - b) / safe) % 6,
                      torch.where(top == g, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = torch.where(span > 0, hue / 6, torch.zeros_like(hue))
    hue = (hue + shift.view(-1, 1, 1)) % 1.0
    # Back to RGB: each channel's distance around the circle from its primary.
    k = (torch.stack([hue, hue, hue], 1) * 6 + torch.tensor(
        [5.0, 3.0, 1.0], dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)) % 6
    weight = torch.clamp(torch.minimum(k, 4 - k), 0, 1)
    return top.unsqueeze(1) * (1 - saturation.unsqueeze(1) * weight)


def gaussian_blur(batch: torch.Tensor, sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Each image blurred with its own sigma (pixels): a separable ``kernel_size`` Gaussian,
    reflect-padded at the borders as torchvision's ``gaussian_blur``."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise DataError(f"the blur kernel size must be odd and positive, got {kernel_size}")
    n, c, h, w = batch.shape
    half = (kernel_size - 1) / 2
    x = torch.linspace(-half, half, kernel_size, dtype=batch.dtype, device=batch.device)
    kernel = torch.exp(-0.5 * (x.view(1, -1) / sigma.view(-1, 1)).square())
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (N*C) x k
    pad = kernel_size // 2
    flat = batch.reshape(1, n * c, h, w)
    flat = F.conv2d(F.pad(flat, (pad, pad, 0, 0), mode="reflect"),
                    kernel.view(n * c, 1, 1, kernel_size), groups=n * c)
    flat = F.conv2d(F.pad(flat, (0, 0, pad, pad), mode="reflect"),
                    kernel.view(n * c, 1, kernel_size, 1), groups=n * c)
    return flat.view(n, c, h, w)


def _where(chosen: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    return torch.where(chosen.view(-1, 1, 1, 1), new, old)


@dataclass(frozen=True)
class ViewsConfig:
    """One random view per image; ``ViewsConfig()(batch, generator)``. The defaults are
    SimCLR's CIFAR-10 views (its appendix B.9: no blur on 32 x 32 images)."""

    crop_min_scale: float = 0.08  # random resized crop: smallest area, fraction of the image
    crop_max_scale: float = 1.0  # largest area
    crop_min_ratio: float = 3 / 4  # aspect ratio (width / height) range, log-uniform
    crop_max_ratio: float = 4 / 3
    flip: float = 0.5  # probability of a left-right mirror
    jitter: float = 0.8  # probability of colour jitter (the four, in a random order)
    brightness: float = 0.4  # factor uniform in [1 - b, 1 + b]
    contrast: float = 0.4  # factor uniform in [1 - c, 1 + c]
    saturation: float = 0.4  # factor uniform in [1 - s, 1 + s]
    hue: float = 0.1  # shift uniform in [-h, h] of the colour circle (at most 0.5)
    gray: float = 0.2  # probability of grayscale
    blur: float = 0.0  # probability of a Gaussian blur (SimCLR on ImageNet: 0.5)
    blur_min_sigma: float = 0.1  # sigma uniform in this range, pixels
    blur_max_sigma: float = 2.0
    blur_kernel: float = 0.1  # kernel side as a fraction of the image side (made odd)
    solarize: float = 0.0  # probability of inverting the pixels above 0.5 (BYOL: 0.2)

    KEY: ClassVar[str] = "views.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "crop_min_scale": number(0, 1, open_low=True), "crop_max_scale": number(0, 1,
                                                                                open_low=True),
        "crop_min_ratio": number(0.01, 100), "crop_max_ratio": number(0.01, 100),
        "flip": FRACTION, "jitter": FRACTION, "brightness": number(0, 1),
        "contrast": number(0, 1), "saturation": number(0, 1), "hue": number(0, 0.5),
        "gray": FRACTION, "blur": FRACTION, "blur_min_sigma": number(0, 100, open_low=True),
        "blur_max_sigma": number(0, 100, open_low=True),
        "blur_kernel": number(0, 1, open_low=True),
        "solarize": FRACTION,
    }

    def __post_init__(self) -> None:
        check_fields(self)
        for low, high in (("crop_min_scale", "crop_max_scale"),
                          ("crop_min_ratio", "crop_max_ratio"),
                          ("blur_min_sigma", "blur_max_sigma")):
            if getattr(self, low) > getattr(self, high):
                raise DataError(f"views.{low}={getattr(self, low)} is above views.{high}="
                                f"{getattr(self, high)}; swap them")

    def __call__(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One view of each image of a uint8 (0..255) or float (0..1) N x C x H x W batch,
        as float 0..1 of the same size."""
        x = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch.float()
        n, _, height, width = x.shape
        boxes = crop_boxes(n, height, width, (self.crop_min_scale, self.crop_max_scale),
                           (self.crop_min_ratio, self.crop_max_ratio), generator, x.device)
        x = resized_crop(x, boxes, (height, width))
        x = random_flip(x, generator, self.flip)
        x = self._jitter(x, generator)
        gray = _uniform(n, 0, 1, generator, x.device) < self.gray
        x = _where(gray, grayscale(x).expand_as(x), x)
        if self.blur:
            x = self._blur(x, generator)
        if self.solarize:
            chosen = _uniform(n, 0, 1, generator, x.device) < self.solarize
            x = _where(chosen, torch.where(x >= 0.5, 1 - x, x), x)
        return x

    def _jitter(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, device = x.shape[0], x.device
        chosen = _uniform(n, 0, 1, generator, device) < self.jitter
        factors = [_uniform(n, 1 - s, 1 + s, generator, device)
                   for s in (self.brightness, self.contrast, self.saturation)]
        factors.append(_uniform(n, -self.hue, self.hue, generator, device))
        ops = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)
        # Each image its own order of the four (torchvision's ColorJitter shuffles them).
        order = torch.rand(n, 4, generator=generator, device=generator.device).argsort(1)
        order = order.to(device)
        out = x
        for position in range(4):
            for k, op in enumerate(ops):
                rows = torch.nonzero(chosen & (order[:, position] == k)).flatten()
                if len(rows):
                    out = out.index_copy(0, rows, op(out[rows], factors[k][rows]))
        return out

    def _blur(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        chosen = _uniform(n, 0, 1, generator, x.device) < self.blur
        sigma = _uniform(n, self.blur_min_sigma, self.blur_max_sigma, generator, x.device)
        side = int(self.blur_kernel * min(x.shape[-2:]))
        kernel = max(3, side + 1 - side % 2)  # odd
        if kernel // 2 >= min(x.shape[-2:]):
            return x  # too small an image to blur with reflection padding
        return _where(chosen, gaussian_blur(x, sigma, kernel), x)


@dataclass(frozen=True)
class TwoViews:
    """Two independent views of every image, stacked: 2N images, the first views first.
    An ``augment`` of :class:`~resnets.data.InMemoryLoader`, whose generator is seeded from
    the batch's (seed, epoch, index, rank): a resumed run draws the same views."""

    first: ViewsConfig
    second: ViewsConfig

    def __call__(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.cat([self.first(batch, generator), self.second(batch, generator)])

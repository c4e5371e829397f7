"""Augmentation of whole batches on the training device, without per-image Python loops.

Every random draw comes from the ``torch.Generator`` passed in, so a batch's augmentation is
reproducible from the generator's seed alone. The CIFAR recipe of He et al. (2016) is
:class:`CropFlip` (4-pixel zero padding, random 32 x 32 crop, horizontal flip) followed by
per-channel normalisation, which the loader applies after converting to float.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import DataError
from .base import ArrayDataset


def random_crop(batch: torch.Tensor, padding: int, generator: torch.Generator
                ) -> torch.Tensor:
    """Zero-pad N x C x H x W images by ``padding`` and crop each back to H x W at its own
    random offset (uniform over the 2 * padding + 1 positions per axis)."""
    if padding < 0:
        raise DataError(f"crop padding must be >= 0 pixels, got {padding}")
    n, c, h, w = batch.shape
    padded = F.pad(batch, (padding, padding, padding, padding))
    top = _randint(2 * padding + 1, n, generator, batch.device)
    left = _randint(2 * padding + 1, n, generator, batch.device)
    # Two gathers: first pick each image's H rows, then its W columns within those rows.
    rows = (top[:, None] + torch.arange(h, device=batch.device)).view(n, 1, h, 1)
    cropped_rows = padded.gather(2, rows.expand(n, c, h, w + 2 * padding))
    cols = (left[:, None] + torch.arange(w, device=batch.device)).view(n, 1, 1, w)
    return cropped_rows.gather(3, cols.expand(n, c, h, w))


def random_flip(batch: torch.Tensor, generator: torch.Generator, p: float = 0.5
                ) -> torch.Tensor:
    """Mirror each N x C x H x W image left-right with probability ``p``."""
    flip = _rand(batch.shape[0], generator, batch.device) < p
    return torch.where(flip.view(-1, 1, 1, 1), batch.flip(-1), batch)


def normalize(batch: torch.Tensor, mean: Sequence[float] | torch.Tensor,
              std: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """``(batch - mean) / std`` per channel of a float N x C x H x W batch."""
    if not batch.is_floating_point():
        raise DataError(f"normalize expects a float batch, got {batch.dtype}; convert first")
    mean_t = torch.as_tensor(mean, dtype=batch.dtype, device=batch.device)
    std_t = torch.as_tensor(std, dtype=batch.dtype, device=batch.device)
    if mean_t.numel() != batch.shape[1] or std_t.numel() != batch.shape[1]:
        raise DataError(f"mean and std need one value per channel ({batch.shape[1]}), got "
                        f"{mean_t.numel()} and {std_t.numel()}")
    return (batch - mean_t.view(1, -1, 1, 1)) / std_t.view(1, -1, 1, 1)


def channel_stats(ds: ArrayDataset, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of the pixels, on the 0..1 scale.

    Accumulated in float64 over chunks, so CIFAR's 150M pixels need little memory and no
    precision is lost to float32 summation.
    """
    if len(ds) == 0:
        raise DataError("cannot compute channel statistics of an empty dataset")
    channels = ds.images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, len(ds), chunk):
        block = ds.images[start:start + chunk].to(torch.float64) / 255.0
        total += block.sum(dim=(0, 2, 3)).cpu()
        squares += block.square().sum(dim=(0, 2, 3)).cpu()
    count = ds.images.numel() // channels
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    if torch.any(std == 0):
        raise DataError("a channel has the same value in every pixel (std 0); "
                        "the images cannot be normalised")
    return mean.tolist(), std.tolist()


@dataclass(frozen=True)
class CropFlip:
    """The CIFAR recipe as one callable: ``CropFlip(4)(batch, generator)``."""

    padding: int = 4  # zero padding before the random crop, pixels
    flip: bool = True  # also mirror half of the images left-right

    def __call__(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch = random_crop(batch, self.padding, generator)
        return random_flip(batch, generator) if self.flip else batch


def _randint(high: int, n: int, generator: torch.Generator, device: torch.device
             ) -> torch.Tensor:
    # Draw where the generator lives (a CUDA generator cannot fill CPU tensors), then move.
    return torch.randint(high, (n,), generator=generator, device=generator.device).to(device)


def _rand(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=generator.device).to(device)

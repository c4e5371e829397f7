"""A seeded synthetic image set with real class structure, for smoke runs and tests.

Each class owns a smooth random pattern (a coarse random grid upsampled to the image size);
an image is its class pattern at a random contrast, plus a random brightness shift and pixel
noise. A small network separates the classes in a few epochs, yet no single pixel does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import DataError, did_you_mean
from .base import ArrayDataset, derive_seed

_GRID = 4  # side of the coarse random grid behind each class pattern
_SPLITS = {"train": 0, "test": 1}  # sample stream per split; class patterns are shared


def make_synthetic(num_samples: int = 512, num_classes: int = 10, image_size: int = 32,
                   channels: int = 3, seed: int = 0, split: str = "train") -> ArrayDataset:
    """``num_samples`` uint8 images (N x channels x size x size), classes balanced to +-1.

    The class patterns depend only on ``seed``; ``split`` picks an independent stream of
    samples drawn from the same classes, so "train" and "test" are a fair train/test pair.
    The same arguments always give identical tensors.
    """
    if split not in _SPLITS:
        raise DataError(f"unknown synthetic split {split!r}{did_you_mean(split, _SPLITS)}; "
                        "use 'train' or 'test'")
    for name, value, low in [("num_samples", num_samples, 1), ("num_classes", num_classes, 2),
                             ("image_size", image_size, 1), ("channels", channels, 1)]:
        if value < low:
            raise DataError(f"synthetic {name} must be at least {low}, got {value}")
    pattern_gen = torch.Generator().manual_seed(derive_seed(seed, -1))
    coarse = torch.rand(num_classes, channels, _GRID, _GRID, generator=pattern_gen) * 2 - 1
    patterns = F.interpolate(coarse, size=(image_size, image_size), mode="bilinear",
                             align_corners=False)

    gen = torch.Generator().manual_seed(derive_seed(seed, _SPLITS[split]))
    labels = (torch.arange(num_samples) % num_classes)[torch.randperm(num_samples, generator=gen)]
    contrast = 50 + 30 * torch.rand(num_samples, 1, 1, 1, generator=gen)  # pixel levels
    brightness = 20 * torch.randn(num_samples, 1, 1, 1, generator=gen)
    noise = 20 * torch.randn(num_samples, channels, image_size, image_size, generator=gen)
    pixels = 128 + contrast * patterns[labels] + brightness + noise
    images = pixels.round().clamp(0, 255).to(torch.uint8)
    return ArrayDataset(images, labels, [f"class{k}" for k in range(num_classes)])

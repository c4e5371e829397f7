"""Sample grids: one row per class (``eval.grid_columns`` images each), written as PNG."""

from __future__ import annotations

import os

import torch
from PIL import Image
from torchvision.utils import make_grid

from ..files import atomic_path


def save_grid(generator: torch.nn.Module, classes: int, cfg, device: torch.device,
              seed: int | None = None) -> torch.Tensor:
    """The grid (C x H x W in [0, 1]) of ``eval.grid_columns`` samples of every class."""
    from .task import NOISE_SEED, generate

    columns = cfg.eval.grid_columns
    labels = torch.arange(classes).repeat_interleave(columns)
    images = generate(generator, labels, cfg.gan.z_dim, device,
                      NOISE_SEED if seed is None else seed, cfg.gan.conditional)
    return make_grid(images, nrow=columns, padding=1, pad_value=1.0)


def write_grid_png(grid: torch.Tensor, path: str | os.PathLike, scale: int = 2) -> None:
    """Write ``grid`` as an 8-bit PNG, each pixel ``scale`` x ``scale`` (atomically)."""
    pixels = (grid.clamp(0, 1) * 255).round().to(torch.uint8)
    if pixels.shape[0] == 1:
        pixels = pixels.expand(3, -1, -1)
    image = Image.fromarray(pixels.permute(1, 2, 0).contiguous().numpy())
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")

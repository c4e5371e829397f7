"""Samples of a generator from noise of their own, and grids of them: one row per class
(``eval.grid_columns`` images each), written as PNG."""

from __future__ import annotations

import os

import torch
from PIL import Image
from torchvision.utils import make_grid

from ..files import atomic_path

NOISE_SEED = 12345  # the evaluation's fixed noise: the grids of a run are comparable


@torch.no_grad()
def generate(generator: torch.nn.Module, labels: torch.Tensor, z_dim: int,
             device: torch.device, seed: int = NOISE_SEED, conditional: bool = True,
             batch: int = 500) -> torch.Tensor:
    """Images for ``labels`` in [0, 1] on the CPU, from noise of its own ``seed`` (the
    training's random state is left alone), the generator in eval mode."""
    was_training = generator.training
    generator.eval()
    noise = torch.Generator().manual_seed(seed)
    out = []
    for y in labels.split(batch):
        z = torch.randn(len(y), z_dim, generator=noise).to(device)
        out.append(generator(z, y.to(device) if conditional else None).float().cpu())
    generator.train(was_training)
    return (torch.cat(out) + 1) / 2


def save_grid(generator: torch.nn.Module, classes: int, cfg, device: torch.device,
              seed: int | None = None) -> torch.Tensor:
    """The grid (C x H x W in [0, 1]) of ``eval.grid_columns`` samples of every class."""
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

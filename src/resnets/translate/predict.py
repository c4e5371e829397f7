"""``resnets translate predict``: each A image translated, written as a B image of the same
file name in the output folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..data.folder import decode_image
from ..data.shapes import _save_png
from ..errors import DataError
from ..files import check_writable
from ..train.device import resolve_device
from ..train.metadata import check_fits
from ..train.task_checkpoint import read_averaged_run
from .config import TranslateConfig
from .task import build_networks, translate


def load_translator(path: str | os.PathLike, device: torch.device) -> torch.nn.Module:
    """The generator of a run directory or checkpoint of ``resnets translate train``."""
    _, cfg, weights = read_averaged_run(path, "translate", TranslateConfig)
    pair = build_networks(cfg)
    check_fits(pair, weights, f"checkpoint {str(path)!r}", classes=0)
    pair.load_state_dict(weights)
    return pair.generator.to(device).eval()


def predict_images(checkpoint, images: Sequence[str], out: str | os.PathLike,
                   device: str = "auto") -> list[Path]:
    dev = resolve_device(device)  # a bad device is refused before anything is read or made
    out = check_writable(out)
    inputs = []
    for name in images:  # every input is read and checked before the first is written
        pixels = torch.from_numpy(np.asarray(decode_image(name)).copy()).permute(2, 0, 1)
        if pixels.shape[1] % 4 or pixels.shape[2] % 4:
            raise DataError(f"{name}: {pixels.shape[1]} x {pixels.shape[2]} pixels; the "
                            "generator needs sides divisible by 4")
        inputs.append(pixels)
    generator = load_translator(checkpoint, dev)
    written = []
    for name, a in zip(images, inputs):
        b = translate(generator, a.unsqueeze(0), dev)[0]
        pixels = (b.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        path = out / Path(name).name
        _save_png(pixels, path.with_suffix(".png"))
        written.append(path.with_suffix(".png"))
    return written

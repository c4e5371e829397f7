"""The two photos scikit-learn ships (``sklearn.datasets.load_sample_images``: a Chinese
temple and a flower, 427 x 640 each) as a super-resolution set that needs no download: one
photo in ``train/``, the other in ``val/``, as lossless PNGs."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from ..data.destination import prepare_destination
from ..files import atomic_path

PHOTOS = ("china", "flower")


def write_photos(root: str | os.PathLike, train: str = "china",
                 force: bool = False) -> list[Path]:
    """Write ``root/train/<train>.png`` and ``root/val/<the other>.png``; returns them."""
    from sklearn.datasets import load_sample_image  # slow import; only when used

    folder = prepare_destination(root, force)
    val = next(name for name in PHOTOS if name != train)
    written = []
    for split, name in (("train", train), ("val", val)):
        target = prepare_destination(folder / split, force=True) / f"{name}.png"
        with atomic_path(target) as tmp:
            Image.fromarray(load_sample_image(f"{name}.jpg")).save(tmp, format="PNG")
        written.append(target)
    return written

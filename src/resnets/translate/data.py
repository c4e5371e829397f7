"""Paired image folders (``ROOT/A/NAME`` and ``ROOT/B/NAME`` for each pair) and the generated
demo set: the synthetic shapes' images (A) and their label maps (B, one colour per class), as
pix2pix's photo -> labels; the other way round has no single answer (the shapes' colours and
the textured backgrounds are random), so L1 and PSNR would measure little."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..data.destination import prepare_destination
from ..data.folder import decode_image
from ..data.shapes import ShapesConfig, _save_png, render_scene
from ..errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# The label maps' colours: background, circle, square, triangle.
PALETTE = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)


def _names(folder: Path) -> set[str]:
    if not folder.is_dir():
        raise DataError(f"{str(folder)!r} is missing: a paired folder holds A/ and B/ with "
                        "the same file names")
    return {p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}


def pair_names(root: str | os.PathLike) -> list[str]:
    """The sorted file names present in both ``root/A`` and ``root/B``; any file of one
    without its partner in the other is refused, naming it (before anything is decoded)."""
    root = Path(root)
    a, b = _names(root / "A"), _names(root / "B")
    unmatched = sorted(f"A/{n}" for n in a - b) + sorted(f"B/{n}" for n in b - a)
    if unmatched:
        more = f" (and {len(unmatched) - 1} more)" if len(unmatched) > 1 else ""
        raise DataError(f"{root}: {unmatched[0]} has no partner{more}; every A/NAME needs a "
                        "B/NAME of the same name")
    if not a:
        raise DataError(f"{root}: A/ and B/ hold no images")
    return sorted(a)


def _pixels(path: Path) -> torch.Tensor:
    image = np.asarray(decode_image(path))
    return torch.from_numpy(image.copy()).permute(2, 0, 1)


def load_pairs(root: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(A, B) as N x 3 x H x W uint8 tensors and the file names; all images one size."""
    root = Path(root)
    names = pair_names(root)
    a = [_pixels(root / "A" / n) for n in names]
    b = [_pixels(root / "B" / n) for n in names]
    shape = a[0].shape
    for name, x, y in zip(names, a, b):
        if x.shape != shape or y.shape != shape:
            raise DataError(f"{root}: pair {name} is {tuple(x.shape[1:])} / "
                            f"{tuple(y.shape[1:])} pixels, not {tuple(shape[1:])} as the "
                            "first; resize the pairs to one size")
    if shape[1] % 4 or shape[2] % 4:
        raise DataError(f"{root}: images of {shape[1]} x {shape[2]} pixels; the generator "
                        "needs sides divisible by 4")
    return torch.stack(a), torch.stack(b), names


def write_demo_pairs(root: str | os.PathLike, num_train: int = 400, num_val: int = 100,
                     image_size: int = 32, seed: int = 0, force: bool = False) -> Path:
    """``root/train`` and ``root/val`` of shapes scenes: A the rendered image, B its label map
    in :data:`PALETTE` (val from another seed: no scene in both)."""
    root = prepare_destination(root, force)
    side = max(4, image_size // 8)
    cfg = ShapesConfig(image_size=image_size, max_objects=3, min_size=side,
                       max_size=max(side, image_size // 2))
    for split, count, split_seed in (("train", num_train, seed), ("val", num_val, seed + 1)):
        rng = np.random.default_rng(split_seed)
        for index in range(count):
            image, shapes = render_scene(rng, cfg)
            labels = np.zeros(image.shape[:2], dtype=np.uint8)
            for shape in shapes:
                labels[shape.mask] = shape.class_id
            _save_png(image, root / split / "A" / f"{index:05d}.png")
            _save_png(PALETTE[labels], root / split / "B" / f"{index:05d}.png")
    return root

"""Synthetic scenes: coloured shapes on textured backgrounds, with exact boxes and masks.

One generator feeds both dense tasks. Each image holds a few non-overlapping circles, squares
and triangles of random colours and sizes on a background of smooth colour noise and stripes,
so the class is the shape, never the colour. Every shape's pixels are known, so the labels are
exact: the boxes are the tight boxes of the shape masks.

Written layouts (``split`` is ``train`` or ``val``)::

    detection:     ROOT/<split>/images/NNNNN.png   ROOT/<split>/annotations.json (COCO)
    segmentation:  ROOT/<split>/images/NNNNN.png   ROOT/<split>/masks/NNNNN.png (palette PNG)
                   ROOT/classes.txt (one class name a line, line k = mask value k)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..errors import DataError
from ..files import atomic_path, write_text_atomic
from ..limits import Limit, check_fields, integer
from .coco import CocoSet, write_coco
from .destination import prepare_destination
from .masks import write_index_png

SHAPE_CLASSES = ("circle", "square", "triangle")  # class ids 1, 2, 3 (0 = background)


@dataclass(frozen=True)
class ShapesConfig:
    """What the generated scenes look like."""

    image_size: int = 128  # side of every (square) image, pixels
    min_objects: int = 1  # shapes per image, at least
    max_objects: int = 4  # shapes per image, at most (fewer when they do not fit)
    min_size: int = 16  # side of a shape's box, pixels, at least
    max_size: int = 48  # side of a shape's box, pixels, at most

    KEY: ClassVar[str] = "--{flag}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "image_size": integer(8, 4096), "min_objects": integer(1, 100),
        "max_objects": integer(1, 100), "min_size": integer(4, 4096),
        "max_size": integer(4, 4096),
    }

    def __post_init__(self) -> None:
        check_fields(self)
        if not 1 <= self.min_objects <= self.max_objects:
            raise DataError(f"need 1 <= min_objects <= max_objects, got {self.min_objects} "
                            f"and {self.max_objects}")
        if not 4 <= self.min_size <= self.max_size <= self.image_size:
            raise DataError(f"need 4 <= min_size <= max_size <= image_size, got "
                            f"{self.min_size}, {self.max_size}, {self.image_size}")


@dataclass(frozen=True)
class Shape:
    """One object of a scene."""

    class_id: int  # 1-based index into SHAPE_CLASSES
    box: tuple[int, int, int, int]  # tight box x0, y0, x1, y1 (x1, y1 exclusive), pixels
    mask: np.ndarray  # H x W bool, the shape's pixels


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth two-colour noise plus faint stripes: texture the detector must learn to ignore."""
    coarse = Image.fromarray(rng.random((6, 6)).astype(np.float32), mode="F")
    noise = np.asarray(coarse.resize((size, size), Image.Resampling.BICUBIC))
    noise = np.clip(noise, 0.0, 1.0)[..., None]
    low, high = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    image = low + (high - low) * noise
    angle, period = rng.uniform(0, np.pi), rng.uniform(6, 20)
    yy, xx = np.mgrid[0:size, 0:size]
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    image += rng.uniform(5, 25) * stripes[..., None]
    return image


def _shape_mask(class_id: int, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    x0, y0, x1, y1 = box
    name = SHAPE_CLASSES[class_id - 1]
    if name == "circle":
        draw.ellipse((x0, y0, x1 - 1, y1 - 1), fill=1)
    elif name == "square":
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=1)
    else:
        draw.polygon([(x0, y1 - 1), (x1 - 1, y1 - 1), ((x0 + x1 - 1) / 2, y0)], fill=1)
    return np.asarray(canvas, dtype=bool)


def _tight_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def render_scene(rng: np.random.Generator, cfg: ShapesConfig) -> tuple[np.ndarray, list[Shape]]:
    """One H x W x 3 uint8 image and its shapes (placed without overlap, 2 px apart)."""
    size = cfg.image_size
    image = _background(rng, size)
    shapes: list[Shape] = []
    wanted = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    for _ in range(50 * wanted):
        if len(shapes) == wanted:
            break
        side = int(rng.integers(cfg.min_size, cfg.max_size + 1))
        x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, 2))
        box = (x0, y0, x0 + side, y0 + side)
        if any(_overlap(box, s.box, margin=2) for s in shapes):
            continue
        class_id = int(rng.integers(1, len(SHAPE_CLASSES) + 1))
        mask = _shape_mask(class_id, box, size)
        under = image[mask].mean(axis=0)
        colour = rng.uniform(0, 255, 3)
        for _ in range(20):  # a shape must stand out from the background beneath it
            if np.abs(colour - under).sum() > 150:
                break
            colour = rng.uniform(0, 255, 3)
        image[mask] = colour
        shapes.append(Shape(class_id, _tight_box(mask), mask))
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), shapes


def _overlap(a: tuple[int, ...], b: tuple[int, ...], margin: int) -> bool:
    return not (a[2] + margin <= b[0] or b[2] + margin <= a[0]
                or a[3] + margin <= b[1] or b[3] + margin <= a[1])


def _scenes(num_images: int, cfg: ShapesConfig, seed: int):
    rng = np.random.default_rng(seed)
    for index in range(num_images):
        image, shapes = render_scene(rng, cfg)
        yield f"{index:05d}.png", image, shapes


def write_detection_split(folder: str | os.PathLike, num_images: int,
                          cfg: ShapesConfig = ShapesConfig(), seed: int = 0) -> Path:
    """Write ``folder/images/*.png`` and ``folder/annotations.json`` (COCO); returns the JSON."""
    folder = Path(folder)
    images, annotations = [], []
    for image_id, (file_name, image, shapes) in enumerate(_scenes(num_images, cfg, seed), 1):
        _save_png(image, folder / "images" / file_name)
        images.append({"id": image_id, "file_name": file_name, "width": cfg.image_size,
                       "height": cfg.image_size})
        for shape in shapes:
            x0, y0, x1, y1 = shape.box
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": shape.class_id,
                                "bbox": [x0, y0, x1 - x0, y1 - y0],
                                "area": int(shape.mask.sum()), "iscrowd": 0})
    categories = [{"id": i, "name": name} for i, name in enumerate(SHAPE_CLASSES, 1)]
    path = folder / "annotations.json"
    write_coco(CocoSet(images, annotations, categories), path)
    return path


def write_segmentation_split(folder: str | os.PathLike, num_images: int,
                             cfg: ShapesConfig = ShapesConfig(), seed: int = 0) -> Path:
    """Write ``folder/images/*.png`` and ``folder/masks/*.png`` (palette PNGs of class ids)."""
    folder = Path(folder)
    for file_name, image, shapes in _scenes(num_images, cfg, seed):
        _save_png(image, folder / "images" / file_name)
        labels = np.zeros(image.shape[:2], dtype=np.uint8)
        for shape in shapes:
            labels[shape.mask] = shape.class_id
        with atomic_path(folder / "masks" / file_name) as tmp:
            write_index_png(labels, tmp)
    return folder


def _save_png(image: np.ndarray, path: Path) -> None:
    """Write ``image`` as ``path`` atomically (its folder created); WriteError on failure."""
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def write_shapes(root: str | os.PathLike, task: str, num_train: int = 200, num_val: int = 50,
                 cfg: ShapesConfig = ShapesConfig(), seed: int = 0, force: bool = False
                 ) -> Path:
    """A train and a val split for ``task`` ("detection" or "segmentation") under ``root``,
    which must be new or empty unless ``force`` (see :mod:`resnets.data.destination`)."""
    if task not in ("detection", "segmentation"):
        raise DataError(f"unknown task {task!r}; use 'detection' or 'segmentation'")
    if num_train < 1 or num_val < 1:
        raise DataError(f"need at least one train and one val image, got {num_train} and "
                        f"{num_val}")
    root = prepare_destination(root, force)
    write = write_detection_split if task == "detection" else write_segmentation_split
    write(root / "train", num_train, cfg, seed)
    write(root / "val", num_val, cfg, seed + 1)  # another seed: no image in both splits
    if task == "segmentation":
        write_text_atomic(root / "classes.txt",
                          "\n".join(("background", *SHAPE_CLASSES)) + "\n")
    return root

"""COCO detection annotations: read and check them, write them, serve them to a detector.

The format is data, not the detection task: the synthetic shapes (:mod:`resnets.data.shapes`)
write it and ``resnets detect`` reads it.

A COCO file holds ``images`` (id, file_name, width, height), ``annotations`` (id, image_id,
category_id, bbox = [x, y, width, height] in pixels, area, iscrowd) and ``categories`` (id,
name). :func:`read_coco` checks every reference before any training starts: a missing image, a
box outside its image or of non-positive size, an unknown category or image id, an unreadable
image (zero-byte, truncated, corrupt, a decompression bomb) is an error that names the file
and the fix, or, with ``skip_bad``, is skipped and counted. A ``file_name`` that leaves the
image folder (``..`` or an absolute path), a bbox value that is not a finite number and an
``iscrowd`` other than 0 or 1 are always errors.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torchvision.transforms.v2.functional import pil_to_tensor

from ..errors import DataError
from ..files import write_text_atomic
from .folder import decode_image
from .imagecheck import check_images, refuse_bad_images

BOX_TOLERANCE = 1.0  # pixels a box may stick out of its image (rounding); it is clipped


@dataclass
class CocoSet:
    """The three lists of a COCO file, with the lookups a detector needs."""

    images: list[dict[str, Any]]
    annotations: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    skipped: Counter = field(default_factory=Counter)  # reason -> annotations/images skipped

    @property
    def category_ids(self) -> list[int]:
        """COCO category ids in label order: label k (1-based; 0 = background) is entry k-1."""
        return sorted(c["id"] for c in self.categories)

    @property
    def class_names(self) -> list[str]:
        names = {c["id"]: str(c.get("name", c["id"])) for c in self.categories}
        return [names[i] for i in self.category_ids]

    def to_dict(self) -> dict[str, Any]:
        return {"images": self.images, "annotations": self.annotations,
                "categories": self.categories}


def write_coco(coco: CocoSet, path: str | os.PathLike) -> Path:
    """Write ``coco`` as COCO JSON, atomically; a failed write is one line (WriteError)."""
    return write_text_atomic(path, json.dumps(coco.to_dict()))


def _load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"annotation file {str(path)!r} does not exist; give the path of a "
                        "COCO JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); fix or regenerate the file") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list)
                                             for k in ("images", "annotations", "categories")):
        raise DataError(f"{path}: a COCO file needs lists 'images', 'annotations' and "
                        "'categories'; convert the annotations to COCO format")
    return data


class _Checker:
    """Raises on the first problem, or (``skip``) counts it and tells the caller to skip."""

    def __init__(self, path: Path, skip: bool) -> None:
        self.path, self.skip, self.skipped = path, skip, Counter()

    def bad(self, reason: str, message: str, fix: str) -> bool:
        if not self.skip:
            raise DataError(f"{self.path}: {message}; {fix}, or pass --skip-bad to skip and "
                            "count such entries")
        self.skipped[reason] += 1
        return True


def read_coco(path: str | os.PathLike, image_dir: str | os.PathLike,
              skip_bad: bool = False) -> CocoSet:
    """Read and check a COCO file whose ``file_name`` entries are relative to ``image_dir``."""
    path, image_dir = Path(path), Path(image_dir)
    data = _load_json(path)
    check = _Checker(path, skip_bad)
    if not image_dir.is_dir():
        raise DataError(f"image folder {str(image_dir)!r} of {path} does not exist; pass the "
                        "folder that holds the images")
    categories = data["categories"]
    category_ids = [c.get("id") for c in categories if isinstance(c, dict)]
    if (len(category_ids) != len(categories) or not categories
            or not all(isinstance(i, int) for i in category_ids)
            or len(set(category_ids)) != len(category_ids)):
        raise DataError(f"{path}: 'categories' must be a non-empty list of entries with "
                        "unique integer ids; fix the category list")
    images = _read_images(data["images"], image_dir, check)
    annotations = []
    known_categories = set(category_ids)
    for ann in data["annotations"]:
        checked = _check_annotation(ann, images, known_categories, check, skip_bad)
        if checked is not None:
            annotations.append(checked)
    return CocoSet(list(images.values()), annotations, categories, check.skipped)


def _read_images(entries: list, image_dir: Path, check: _Checker) -> dict[Any, dict]:
    """The usable images by id, with their width and height from the files."""
    listed: dict[Any, tuple[dict, Path]] = {}
    for image in entries:
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise DataError(f"{check.path}: every image needs an 'id' and a 'file_name', got "
                            f"{image!r}; fix the image list")
        if image["id"] in listed:
            raise DataError(f"{check.path}: image id {image['id']} appears twice; make ids "
                            "unique")
        file = _image_file(image, image_dir, check.path)
        if not file.is_file():
            check.bad("missing image", f"image {image['file_name']!r} (id {image['id']}) is "
                      f"not in {image_dir}", "copy the image there or fix its file_name")
            continue
        listed[image["id"]] = (image, file)
    files = [file for _, file in listed.values()]
    statuses = check_images(files)
    if not check.skip:
        refuse_bad_images(files, statuses, f"{image_dir} (listed in {check.path})",
                          "--skip-bad")
    images = {}
    for (image, _), status in zip(listed.values(), statuses):
        if not status.ok:
            check.skipped["unreadable image"] += 1
            continue
        width, height = status.size
        if image.get("width", width) != width or image.get("height", height) != height:
            raise DataError(f"{check.path}: image {image['file_name']!r} is {width}x{height} "
                            f"on disk but {image.get('width')}x{image.get('height')} in the "
                            "file; fix its width and height")
        images[image["id"]] = {**image, "width": width, "height": height}
    return images


def _image_file(image: dict, image_dir: Path, path: Path) -> Path:
    """The file of ``image``, refused unless its name is a relative path inside ``image_dir``.

    The name is checked, not where links lead: a data set whose image folder holds links to
    shared storage is the user's own layout, as it is for torchvision and pycocotools.
    """
    name = image["file_name"]
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"{path}: image id {image['id']} has file_name {name!r}; give the "
                        "image's path relative to the image folder")
    file = image_dir / name
    if os.path.isabs(name) or ".." in Path(name).parts:
        raise DataError(f"{path}: image id {image['id']} has file_name {name!r}, which leaves "
                        f"the image folder {image_dir}; file names are relative paths inside "
                        "it (copy the image there)")
    return file


def _is_number(value: Any) -> bool:
    """A finite int or float (JSON allows NaN and Infinity; bool is no number here)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_annotation(ann: Any, images: dict, categories: set, check: _Checker,
                      skip_bad: bool) -> dict | None:
    if not isinstance(ann, dict) or not {"image_id", "category_id", "bbox"} <= set(ann):
        raise DataError(f"{check.path}: every annotation needs 'image_id', 'category_id' and "
                        f"'bbox', got {ann!r}; fix the annotation list")
    what = f"annotation {ann.get('id', '?')} (image id {ann['image_id']})"
    if ann["image_id"] not in images:
        if skip_bad:  # its image was skipped or never listed
            check.skipped["annotation of a missing image"] += 1
            return None
        raise DataError(f"{check.path}: {what} refers to an image id that is not in "
                        "'images'; add the image or remove the annotation")
    if ann["category_id"] not in categories:
        check.bad("unknown category", f"{what} has category_id {ann['category_id']}, not "
                  f"one of the declared {sorted(categories)}", "declare the category")
        return None
    bbox = ann["bbox"]
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(map(_is_number, bbox)):
        raise DataError(f"{check.path}: {what} has bbox {bbox!r}; a bbox is [x, y, width, "
                        "height], four finite numbers in pixels")
    iscrowd = ann.get("iscrowd", 0)
    if iscrowd not in (0, 1) or isinstance(iscrowd, (bool, float)):
        raise DataError(f"{check.path}: {what} has iscrowd {iscrowd!r}; iscrowd is the "
                        "integer 0 (an object) or 1 (a crowd region)")
    if "area" in ann and not (_is_number(ann["area"]) and ann["area"] >= 0):
        raise DataError(f"{check.path}: {what} has area {ann['area']!r}; an area is a finite "
                        "number of pixels >= 0 (or leave it out)")
    x, y, w, h = (float(v) for v in bbox)
    image = images[ann["image_id"]]
    if w <= 0 or h <= 0:
        check.bad("non-positive box size", f"{what} has a box of size {w}x{h}",
                  "give it a positive width and height")
        return None
    width, height = image["width"], image["height"]
    if (x < -BOX_TOLERANCE or y < -BOX_TOLERANCE or x + w > width + BOX_TOLERANCE
            or y + h > height + BOX_TOLERANCE):
        check.bad("box outside the image", f"{what} has box {bbox} (x, y, w, h) outside "
                  f"its {width}x{height} image {image['file_name']!r}",
                  "fix the box (COCO boxes are [x, y, width, height] in pixels)")
        return None
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(width)), min(y + h, float(height))
    return {**ann, "bbox": [x0, y0, x1 - x0, y1 - y0],
            "area": float(ann.get("area", (x1 - x0) * (y1 - y0))),
            "iscrowd": iscrowd}


class DetectionDataset(torch.utils.data.Dataset):
    """``(image, target)`` pairs for torchvision's detectors.

    ``image`` is a float 3 x H x W tensor in [0, 1]; ``target`` holds ``boxes`` (N x 4, x0 y0
    x1 y1 pixels), ``labels`` (N, 1-based in :attr:`CocoSet.category_ids` order) and
    ``image_id``. Crowd annotations are left out of the targets (COCOeval ignores them).
    ``hflip`` mirrors half of the images at random, with their boxes.
    """

    def __init__(self, coco: CocoSet, image_dir: str | os.PathLike, hflip: bool = False
                 ) -> None:
        self.coco, self.image_dir, self.hflip = coco, Path(image_dir), hflip
        label_of = {cid: k for k, cid in enumerate(coco.category_ids, 1)}
        self.targets: dict[Any, tuple[list, list]] = {im["id"]: ([], [])
                                                       for im in coco.images}
        for ann in coco.annotations:
            if not ann["iscrowd"]:
                x, y, w, h = ann["bbox"]
                boxes, labels = self.targets[ann["image_id"]]
                boxes.append([x, y, x + w, y + h])
                labels.append(label_of[ann["category_id"]])

    def __len__(self) -> int:
        return len(self.coco.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        info = self.coco.images[index]
        image = pil_to_tensor(decode_image(self.image_dir / info["file_name"])).float() / 255
        boxes, labels = self.targets[info["id"]]
        target = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                  "labels": torch.tensor(labels, dtype=torch.int64),
                  "image_id": torch.tensor(index)}
        if self.hflip and torch.rand(()) < 0.5:
            image = image.flip(-1)
            width = image.shape[-1]
            target["boxes"] = torch.stack([width - target["boxes"][:, 2], target["boxes"][:, 1],
                                           width - target["boxes"][:, 0],
                                           target["boxes"][:, 3]], dim=1)
        return image, target


def collate(batch: list) -> tuple[list, list]:
    """Detectors take lists: images of different sizes are batched by the model itself."""
    images, targets = zip(*batch)
    return list(images), list(targets)

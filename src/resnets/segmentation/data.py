"""Image and mask folders for semantic segmentation.

Layout: ``ROOT/images/<name>.<ext>`` and ``ROOT/masks/<name>.png``, paired by file stem. A
mask holds one class id per pixel: a palette PNG (PASCAL VOC style, mode "P", whose pixel
values are the ids and whose palette only colours them) or a grey index PNG (mode "L").
255 marks pixels to ignore (VOC's object borders). The classes are the lines of
``classes.txt`` (in ROOT or its parent) or ``num_classes`` given by the user.

Every pair is checked before training: a missing mask, an unreadable image or mask
(zero-byte, truncated, corrupt, a decompression bomb), a mask whose size differs from its
image, or a class id beyond the declared classes is an error naming the first bad file, the
fix and how many pairs are bad, or, with ``skip_bad``, the pair is skipped and counted.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2.functional import pil_to_tensor

from ..data.folder import IMAGE_EXTENSIONS, decode_image
from ..data.imagecheck import ImageStatus, check_images, open_image
from ..errors import DataError

IGNORE_INDEX = 255  # mask value of pixels that count for neither loss nor metric


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Class ids of a palette or grey index PNG as an H x W int64 array."""
    try:
        with open_image(path) as image:
            if image.mode not in ("P", "L", "I", "I;16"):
                raise DataError(f"mask {path} is a {image.mode} image; masks are palette or "
                                "grey PNGs whose pixel values are class ids (convert colour "
                                "masks to class ids first)")
            return np.asarray(image, dtype=np.int64)
    except DataError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise DataError(f"cannot read mask {path} ({err}); replace or delete it") from None


def read_classes(root: str | os.PathLike, num_classes: int = 0) -> list[str]:
    """Class names from ``classes.txt`` in ``root`` or its parent, else ``num_classes`` ids."""
    if not Path(root).is_dir():
        raise DataError(f"segmentation folder {str(root)!r} not found; give a folder with "
                        "images/ and masks/ subfolders")
    for folder in (Path(root), Path(root).parent):
        listing = folder / "classes.txt"
        if listing.is_file():
            names = [line.strip() for line in listing.read_text(encoding="utf-8").splitlines()
                     if line.strip()]
            if num_classes and num_classes != len(names):
                raise DataError(f"{listing} lists {len(names)} classes but --num-classes is "
                                f"{num_classes}; make them agree")
            return names
    if num_classes < 2:
        raise DataError(f"no classes.txt in {root} or its parent; write one (a class name a "
                        "line, background first) or pass --num-classes")
    return [str(k) for k in range(num_classes)]


class MaskFolderDataset(torch.utils.data.Dataset):
    """``(image, mask)`` pairs: float 3 x H x W in [0, 1] and int64 H x W class ids.

    ``train`` flips half of the pairs at random and, with ``crop_size``, cuts random
    ``crop_size`` squares (padding small images with ignored pixels) so they stack in
    batches.
    """

    def __init__(self, root: str | os.PathLike, num_classes: int, train: bool = False,
                 crop_size: int = 0, skip_bad: bool = False) -> None:
        root = Path(root)
        self.root, self.num_classes = root, num_classes
        self.train, self.crop_size = train, crop_size
        self.skipped: Counter = Counter()
        image_dir, mask_dir = root / "images", root / "masks"
        for folder in (image_dir, mask_dir):
            if not folder.is_dir():
                raise DataError(f"{folder} does not exist; a segmentation set is a folder "
                                "with images/ and masks/ sub-folders")
        images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        self.pairs: list[tuple[Path, Path]] = []
        problems = []
        sizes: dict[tuple[int, int], Path] = {}  # each size of a good image: its first file
        for image, status in zip(images, check_images(images)):
            mask = mask_dir / f"{image.stem}.png"
            problem = self._check(image, status, mask)
            if problem is None:
                self.pairs.append((image, mask))
                sizes.setdefault(status.size, image)
            else:
                self.skipped[problem[0]] += 1
                problems.append(problem[1])
        if problems and not skip_bad:
            raise DataError(f"{problems[0]}; {len(problems)} of {len(images)} pairs in {root} "
                            "are bad: fix them, or pass --skip-bad to skip and count them")
        if not self.pairs:
            raise DataError(f"no usable image/mask pair in {root}")
        if train and not crop_size and len(sizes) > 1:  # whole images must stack in a batch
            ((w1, h1), first), ((w2, h2), second) = list(sizes.items())[:2]
            raise DataError(f"training images differ in size ({first.name} is {w1}x{h1}, "
                            f"{second.name} {w2}x{h2}); pass --crop-size N to train on "
                            "N x N crops")

    def _check(self, image: Path, status: ImageStatus, mask: Path) -> tuple[str, str] | None:
        """None for a good pair, else (reason, message naming the file and the fix)."""
        if not status.ok:
            return ("unreadable image", f"cannot read image {image} ({status.problem}); "
                    "replace or delete it")
        if not mask.is_file():
            return "missing mask", f"image {image} has no mask {mask}; add the mask"
        size = status.size
        try:
            labels = read_mask(mask)
        except DataError as err:
            return "unreadable mask", str(err)
        if labels.shape[::-1] != size:
            return ("size mismatch", f"mask {mask} is {labels.shape[1]}x{labels.shape[0]} but "
                    f"its image is {size[0]}x{size[1]}; resize the mask (nearest neighbour)")
        bad = labels[(labels != IGNORE_INDEX) & ((labels < 0) | (labels >= self.num_classes))]
        if bad.size:
            return ("class id out of range", f"mask {mask} has class id {int(bad.max())} but "
                    f"only {self.num_classes} classes are declared (ids 0-"
                    f"{self.num_classes - 1}, {IGNORE_INDEX} = ignore); fix the mask or "
                    "declare the class in classes.txt")
        return None

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_path, mask_path = self.pairs[index]
        image = pil_to_tensor(decode_image(image_path)).float() / 255
        mask = torch.from_numpy(read_mask(mask_path))
        if self.train:
            if torch.rand(()) < 0.5:
                image, mask = image.flip(-1), mask.flip(-1)
            if self.crop_size:
                image, mask = random_crop(image, mask, self.crop_size)
        return image, mask


def random_crop(image: torch.Tensor, mask: torch.Tensor, size: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """A random ``size`` x ``size`` window; short sides are padded (mask: ignored pixels)."""
    height, width = mask.shape
    pad_h, pad_w = max(size - height, 0), max(size - width, 0)
    if pad_h or pad_w:
        image = torch.nn.functional.pad(image, (0, pad_w, 0, pad_h))
        mask = torch.nn.functional.pad(mask, (0, pad_w, 0, pad_h), value=IGNORE_INDEX)
    top = int(torch.randint(mask.shape[0] - size + 1, ()))
    left = int(torch.randint(mask.shape[1] - size + 1, ()))
    return (image[:, top:top + size, left:left + size],
            mask[top:top + size, left:left + size])

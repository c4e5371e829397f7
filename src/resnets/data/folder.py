"""Image folders in the ImageNet layout: ``root/<split>/<class>/<image file>``.

Classes are the sorted sub-folder names, so label k means the same class in train/ and val/
as long as both hold the same folders. Images are decoded with PIL and converted to RGB.
Links are followed, but never back into a folder already walked (a link to the class folder
or above it would repeat its images until the path grows too long).
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torchvision.transforms.v2.functional import pil_to_tensor

from ..errors import DataError
from .imagecheck import CHECK_THREADS, check_images, open_image, refuse_bad_images

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".pbm", ".bmp", ".gif", ".tif",
                    ".tiff", ".webp")  # files with other suffixes (README, .txt) are ignored


# What a user can do about an unreadable image in a folder dataset (the library's keyword
# and the `resnets train` setting).
SKIP_CORRUPT_FIX = ("replace or delete the file, or skip unreadable images (data.skip_corrupt="
                    "true; ImageFolderDataset(..., skip_corrupt=True))")


def decode_image(path: str | os.PathLike,
                 fix: str = "replace the file or leave it out", mode: str = "RGB") -> Image.Image:
    """Fully decode ``path`` as a PIL image of ``mode`` (RGB, or L: grayscale); an unreadable
    file raises DataError.

    ``fix`` ends the message: the caller knows which option, if any, skips such files.
    """
    try:
        with open_image(path) as image:
            return image.convert(mode)  # convert() forces the whole file to be decoded
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise DataError(f"cannot decode image {path} ({reason}); {fix}") from None


class ImageFolderDataset(torch.utils.data.Dataset):
    """(transform(image), label) pairs read from ``root/<split>/<class>/*``.

    With ``split=None``, ``root`` itself holds the class folders. ``transform`` receives an
    RGB PIL image; without one an item is a uint8 3 x H x W tensor. Hidden files and files
    without an image suffix are ignored. Every image is checked here, at construction
    (:mod:`~resnets.data.imagecheck`: zero-byte, truncated, corrupt files and decompression
    bombs): a bad one raises :class:`DataError` naming it, or, with ``skip_corrupt=True``, the
    bad ones are left out and listed in ``skipped``, so ``len()`` is final before training
    starts. ``check_threads`` threads run the check. ``check=False`` trusts the folder (a
    very large, known-good set starts at once; a bad file then fails when it is read), unless
    ``skip_corrupt`` asks for the bad ones to be found.
    """

    def __init__(self, root: str | os.PathLike, split: str | None = "train",
                 transform: Callable[[Image.Image], Any] | None = None,
                 skip_corrupt: bool = False,
                 extensions: tuple[str, ...] = IMAGE_EXTENSIONS,
                 check_threads: int = CHECK_THREADS, check: bool = True) -> None:
        self.root = Path(root).expanduser()
        self.directory = self.root if split is None else self.root / split
        layout = (f"expected {self.root}/{split or ''}{'/' if split else ''}<class>/<image> "
                  "(ImageNet layout: train/ and val/, each with one folder per class)")
        if not self.directory.is_dir():
            raise DataError(f"image folder {self.directory} not found; {layout}")
        self.classes = sorted(entry.name for entry in os.scandir(self.directory)
                              if entry.is_dir() and not entry.name.startswith("."))
        if not self.classes:
            raise DataError(f"no class folders in {self.directory}; {layout}")
        _refuse_lookalike_classes(self.classes, self.directory)
        self.class_to_idx = {name: index for index, name in enumerate(self.classes)}
        suffixes = tuple(ext.lower() for ext in extensions)
        self.samples: list[tuple[str, int]] = []
        empty = []
        for name in self.classes:
            files = _image_files(self.directory / name, suffixes)
            if not files:
                empty.append(name)
            self.samples += [(path, self.class_to_idx[name]) for path in files]
        if empty:
            shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5
                                             else "")
            raise DataError(f"class folder(s) {shown} in {self.directory} hold no "
                            f"{'/'.join(suffixes)} images; {layout}")
        self.transform = transform
        paths = [path for path, _ in self.samples]
        if not (check or skip_corrupt):
            self.skipped: list[str] = []
            return
        statuses = check_images(paths, check_threads)
        if not skip_corrupt:
            refuse_bad_images(paths, statuses, str(self.directory), "skip_corrupt=True "
                              "(data.skip_corrupt=true on the command line)")
        self.skipped = [path for path, status in zip(paths, statuses) if not status.ok]
        self.samples = [sample for sample, status in zip(self.samples, statuses) if status.ok]
        if not self.samples:
            raise DataError(f"none of the images in {self.directory} can be decoded")

    @property
    def targets(self) -> list[int]:
        """The label of every sample, in order."""
        return [label for _, label in self.samples]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, label = self.samples[index]
        image = decode_image(path, SKIP_CORRUPT_FIX)
        return (pil_to_tensor(image) if self.transform is None else self.transform(image)), label


def _refuse_lookalike_classes(classes: list[str], directory: Path) -> None:
    """Two class folders whose names differ only in case, Unicode form or outer spaces are
    one class to a reader but two labels to the model: refuse them."""
    seen: dict[str, str] = {}
    for name in classes:
        key = unicodedata.normalize("NFC", name).strip().casefold()
        if key in seen:
            raise DataError(f"class folders {seen[key]!r} and {name!r} in {directory} name the "
                            "same class (they differ only in case, accents' encoding or "
                            "spaces); merge them into one folder or rename one")
        seen[key] = name


def _image_files(folder: Path, suffixes: tuple[str, ...]) -> list[str]:
    """Image files under ``folder`` (recursively, following links), in sorted order.

    A linked folder is entered once: a link back to a folder already walked, or to one that
    holds ``folder``, is not followed (it would repeat the same images, or other classes').
    """
    top = os.path.realpath(folder)
    entered = {top}  # real paths of the folders walked or about to be
    found = []
    for directory, subdirs, files in os.walk(folder, followlinks=True):
        kept = []
        for name in sorted(d for d in subdirs if not d.startswith(".")):
            real = os.path.realpath(os.path.join(directory, name))
            if real not in entered and not top.startswith(real.rstrip(os.sep) + os.sep):
                entered.add(real)
                kept.append(name)
        subdirs[:] = kept
        found += [os.path.join(directory, f) for f in sorted(files)
                  if f.lower().endswith(suffixes) and not f.startswith(".")]
    return found

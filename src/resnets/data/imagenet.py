"""A folder of images in ImageNet's validation layout, labelled with ImageNet-1k's indices.

``root/<wnid or class name>/<image>``: ImageNet's own folders are named by WordNet id
(``n01440764`` ...), and the sorted 1,000 ids are the class indices 0..999 (torchvision's
``ImageFolder`` on the full set gives the same labels). Folders named by class name
(``tench``, ``goldfish``; case and ``_`` for a space do not matter where that leaves the name
unique) map through :func:`~resnets.models.pretrained.imagenet_classes`. A few classes are
enough: a folder set that is a subset keeps the 1,000-way labels, so the published weights'
1,000 outputs score it directly. A folder that is neither a wnid nor a class name is refused
in one line before any image is read.

The ids ship with the package (``imagenet_wnids.txt``, the same list as timm's
``imagenet_synsets.txt``, which a test compares).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import DataError
from ..models.pretrained import imagenet_classes
from .folder import ImageFolderDataset


@functools.cache
def imagenet_wnids() -> tuple[str, ...]:
    """ImageNet-1k's 1,000 WordNet ids in class-index order (sorted)."""
    text = resources.files(__package__).joinpath("imagenet_wnids.txt").read_text()
    return tuple(text.split())


def _loose(name: str) -> str:
    """A class name as a folder may spell it: any case, ``_`` or spaces between words."""
    return " ".join(name.replace("_", " ").split()).casefold()


@functools.cache
def _name_index() -> tuple[dict[str, int], dict[str, list[int]]]:
    """(exact class name -> index, loosely spelt name -> the indices it may mean)."""
    exact = {name: index for index, name in enumerate(imagenet_classes())}
    loose: dict[str, list[int]] = {}
    for name, index in exact.items():
        loose.setdefault(_loose(name), []).append(index)
    return exact, loose


def imagenet_index(folder: str) -> int:
    """The ImageNet-1k class index of a folder named by wnid or class name; DataError if the
    name is neither, or could mean two classes."""
    wnids = imagenet_wnids()
    if folder in _wnid_index():
        return _wnid_index()[folder]
    exact, loose = _name_index()
    if folder in exact:
        return exact[folder]
    candidates = loose.get(_loose(folder), [])
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        names = " or ".join(f"{imagenet_classes()[i]!r} ({wnids[i]})" for i in candidates)
        raise DataError(f"class folder {folder!r} could be {names}; rename it to the wnid or "
                        "the exact class name")
    raise DataError(f"class folder {folder!r} is neither an ImageNet wnid (n01440764 ...) nor "
                    "an ImageNet class name (`resnets.imagenet_classes()`); rename it, or "
                    "leave it out of the folder")


@functools.cache
def _wnid_index() -> dict[str, int]:
    return {wnid: index for index, wnid in enumerate(imagenet_wnids())}


def imagenet_folders(root: str | os.PathLike) -> dict[str, int]:
    """Every class folder of ``root`` and its ImageNet-1k index, checked before any image is
    read; two folders of one class are refused."""
    directory = Path(root).expanduser()
    if not directory.is_dir():
        raise DataError(f"image folder {str(root)!r} not found; expected ImageNet's "
                        "val/<wnid>/<image> layout (or class names for the folders)")
    folders = sorted(entry.name for entry in os.scandir(directory)
                     if entry.is_dir() and not entry.name.startswith("."))
    if not folders:
        raise DataError(f"no class folders in {str(root)!r}; expected ImageNet's "
                        "val/<wnid>/<image> layout (or class names for the folders)")
    mapping, seen = {}, {}
    for folder in folders:
        index = imagenet_index(folder)
        if index in seen:
            raise DataError(f"class folders {seen[index]!r} and {folder!r} in {str(root)!r} "
                            f"are both ImageNet class {index} ({imagenet_classes()[index]}); "
                            "merge them")
        mapping[folder], seen[index] = index, folder
    return mapping


class ImageNetFolder(ImageFolderDataset):
    """(transform(image), ImageNet-1k index) pairs of ``root/<wnid or class name>/*``.

    ``folder_index`` maps each folder to its index (``classes`` stays the folder names). The
    images are checked as :class:`ImageFolderDataset` checks them, after the folder names,
    which cost nothing. Images decode with PIL unless ``decoder`` says otherwise: published
    accuracies were measured that way (torchvision's references), and other JPEG decoders
    differ by a few pixel levels.
    """

    def __init__(self, root: str | os.PathLike,
                 transform: Callable[[Image.Image], Any] | None = None, **options: Any) -> None:
        options.setdefault("decoder", "pil")
        self.folder_index = imagenet_folders(root)
        super().__init__(root, None, transform, **options)
        index_of_label = [self.folder_index[name] for name in self.classes]
        self.samples = [(path, index_of_label[label]) for path, label in self.samples]

    @property
    def num_classes(self) -> int:
        return len(imagenet_classes())

    @property
    def present(self) -> list[int]:
        """The ImageNet indices that have a folder, ascending."""
        return sorted(self.folder_index.values())

"""Datasets, in-memory loaders and batch augmentation.

Small datasets (digits, synthetic, CIFAR) load into an :class:`ArrayDataset` of uint8 tensors
and are served by :class:`InMemoryLoader` straight from the training device; image folders
(ImageNet layout) are a ``torch.utils.data.Dataset`` for a regular ``DataLoader``.
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Callable

from torch.utils.data import Dataset

from ..errors import DataError, did_you_mean
from .augment import CropFlip, channel_stats, normalize, random_crop, random_flip
from .base import ArrayDataset, Samples, derive_seed, split_train_val
from .cifar import CIFAR_SPECS, check_md5, load_cifar, md5sum
from .digits import load_digits
from .folder import IMAGE_EXTENSIONS, ImageFolderDataset, decode_image
from .loader import InMemoryLoader
from .synthetic import make_synthetic
from .transforms import (IMAGENET_MEAN, IMAGENET_STD, imagenet_eval_transform,
                         imagenet_train_transform)

DATASETS = ("digits", "synthetic", "cifar10", "cifar100", "folder")


def build_dataset(name: str, root: str | os.PathLike | None, split: str, **kw: Any
                  ) -> ArrayDataset | Dataset:
    """The ``split`` of dataset ``name`` (one of :data:`DATASETS`), reading files from ``root``.

    ``kw`` goes to the reader (``load_digits``, ``make_synthetic``, ``load_cifar`` or
    :class:`ImageFolderDataset`). For "folder", the "test" split reads ``val/`` when there is
    no ``test/``, and the transform defaults to the ImageNet train or eval transform at
    ``image_size`` (default 224) pixels.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}{did_you_mean(name, DATASETS)}; "
                        f"choose one of {', '.join(DATASETS)}")
    if name == "digits":
        return _call(load_digits, name, split=split, **kw)
    if name == "synthetic":
        return _call(make_synthetic, name, split=split, **kw)
    if root is None or str(root) == "":
        raise DataError(f"dataset {name!r} reads files: pass the folder holding them as root")
    if name in CIFAR_SPECS:
        return _call(load_cifar, name, root=root, dataset=name, split=split, **kw)
    if split == "test" and not os.path.isdir(os.path.join(root, "test")):
        split = "val"  # ImageNet ships train/ and val/; val is its test set
    if "transform" not in kw:
        size = kw.pop("image_size", 224)
        kw["transform"] = (imagenet_train_transform(size) if split == "train"
                           else imagenet_eval_transform(size))
    return _call(ImageFolderDataset, name, root=root, split=split, **kw)


def _call(reader: Callable[..., Any], name: str, **kw: Any) -> Any:
    """``reader(**kw)``, turning an unknown keyword into a one-line DataError."""
    accepted = inspect.signature(reader).parameters
    for key in kw:
        if key not in accepted:
            raise DataError(f"dataset {name!r} has no option {key!r}"
                            f"{did_you_mean(key, accepted)}; it accepts "
                            f"{', '.join(k for k in accepted if k != 'self')}")
    return reader(**kw)


__all__ = [
    "ArrayDataset", "CIFAR_SPECS", "CropFlip", "DATASETS", "IMAGENET_MEAN", "IMAGENET_STD",
    "IMAGE_EXTENSIONS", "ImageFolderDataset", "InMemoryLoader", "build_dataset",
    "channel_stats", "check_md5", "decode_image", "derive_seed", "imagenet_eval_transform",
    "imagenet_train_transform", "load_cifar", "load_digits", "make_synthetic", "md5sum",
    "Samples", "normalize", "random_crop", "random_flip", "split_train_val",
]

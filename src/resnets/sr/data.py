"""Folders of high-resolution images, their low-resolution versions and training patches.

A folder (DIV2K's layout: ``DIV2K_train_HR/0001.png``, ...) holds images of any size; its
files with an image suffix are read, in name order, as RGB or as 1-channel grayscale
(``data.channels``). Each image is cropped to a multiple of the scale at its bottom and right
and downscaled by bicubic interpolation with antialiasing, then rounded to 8 bits as a saved
low-resolution image would be: the (LR, HR) pair of that image. Every file is checked before
training: an empty folder, an unreadable file, or an image too small for the training patch
(or, for validation, for the scores) is one line naming it and the fix.

``data.downscales`` also trains on each image made smaller first (FSRCNN's augmentation, Dong
et al. 2016, Sec. 4.1: factors 0.9, 0.8, 0.7 and 0.6): each factor is one more training image,
the HR image resized by antialiased bicubic interpolation and rounded to 8 bits. Shrinking a
photo averages away its noise and JPEG blocks and gives edges at more scales.

A training epoch cuts ``data.repeat`` random patches from each (image, factor): an LR square of
``patch_size`` pixels and the HR square under it, flipped and transposed at random
(``augment``); the draws use the global generator, which the step loader
(:class:`~resnets.data.steps.StepLoader`) seeds for each position of the epoch, so a resumed
run cuts the same patches. Decoded pairs are kept in memory (per loader process).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.nn import functional as F
from torchvision.transforms.v2.functional import pil_to_tensor

from ..data.folder import IMAGE_EXTENSIONS, decode_image
from ..data.imagecheck import check_images, refuse_bad_images
from ..errors import DataError

SSIM_WINDOW = 11  # SSIM's window must fit the HR image after the border crop


def image_files(root: str | os.PathLike, key: str) -> list[Path]:
    """The image files directly in the folder ``root`` (``key``: the setting naming it)."""
    folder = Path(root)
    if not folder.is_dir():
        raise DataError(f"{key}: no folder {str(root)!r}; pass a folder of high-resolution "
                        "images")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise DataError(f"{key}: {str(root)!r} holds no image ({', '.join(IMAGE_EXTENSIONS)}"
                        "); put the high-resolution images there")
    return files


def bicubic_resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A uint8 C x H x W image resized to ``height`` x ``width``: antialiased bicubic
    interpolation, rounded to 8 bits."""
    small = F.interpolate(image[None].float(), size=(height, width), mode="bicubic",
                          antialias=True, align_corners=False)[0]
    return small.round().clamp(0, 255).to(torch.uint8)


def bicubic_downscale(image: torch.Tensor, scale: int) -> torch.Tensor:
    """A uint8 C x H x W image (H and W multiples of ``scale``) made ``scale`` times smaller."""
    return bicubic_resize(image, image.shape[-2] // scale, image.shape[-1] // scale)


def decode(path: Path, channels: int) -> torch.Tensor:
    """The image at ``path`` as a uint8 ``channels`` x H x W tensor."""
    return pil_to_tensor(decode_image(path, mode="RGB" if channels == 3 else "L"))


class ImagePairs:
    """The (LR, HR) uint8 pairs of the images of a folder at ``scale``, each image at each of
    the ``downscales`` (module docstring; item ``i`` is file ``i // len(downscales)``);
    ``min_side`` is the smallest HR side an image may have, ``why`` what needs it and
    ``fix`` what to do about a smaller one."""

    def __init__(self, root: str | os.PathLike, key: str, scale: int, channels: int,
                 min_side: int, why: str, fix: str,
                 downscales: tuple[float, ...] = (1.0,)) -> None:
        self.files = image_files(root, key)
        self.scale, self.channels, self.downscales = scale, channels, downscales
        statuses = check_images(self.files)
        refuse_bad_images(self.files, statuses, str(root), None)
        smallest = min(downscales)
        for path, status in zip(self.files, statuses):
            width, height = status.size
            if min(width, height) * smallest < min_side:
                shrunk = f" when downscaled by {smallest:g}" if smallest < 1 else ""
                raise DataError(f"image {path} is {width}x{height}, smaller{shrunk} than "
                                f"{why}; {fix}")
        self._pairs: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.files) * len(self.downscales)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if index not in self._pairs:
            file, which = divmod(index, len(self.downscales))
            hr = decode(self.files[file], self.channels)
            factor = self.downscales[which]
            if factor != 1.0:
                hr = bicubic_resize(hr, round(hr.shape[1] * factor),
                                    round(hr.shape[2] * factor))
            s = self.scale
            hr = hr[:, :hr.shape[1] // s * s, :hr.shape[2] // s * s]
            self._pairs[index] = bicubic_downscale(hr, s), hr
        return self._pairs[index]


def validation_pairs(root: str | os.PathLike, scale: int, channels: int) -> ImagePairs:
    """The validation images, each large enough for SSIM after the border crop."""
    side = SSIM_WINDOW + 2 * scale
    return ImagePairs(root, "data.val", scale, channels, side,
                      f"{side} pixels a side (SSIM's {SSIM_WINDOW}x{SSIM_WINDOW} window after "
                      f"the border crop of x{scale})", "leave it out of data.val")


class PatchDataset(torch.utils.data.Dataset):
    """``repeat`` random (LR, HR) patch pairs per image (float, 0-1), image by image."""

    def __init__(self, pairs: ImagePairs, patch_size: int, repeat: int,
                 augment: bool) -> None:
        self.pairs, self.patch_size = pairs, patch_size
        self.repeat, self.augment = repeat, augment

    def __len__(self) -> int:
        return len(self.pairs) * self.repeat

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = self.pairs[index % len(self.pairs)]
        p, s = self.patch_size, self.pairs.scale
        top = int(torch.randint(lr.shape[1] - p + 1, ()))
        left = int(torch.randint(lr.shape[2] - p + 1, ()))
        lr = lr[:, top:top + p, left:left + p]
        hr = hr[:, top * s:(top + p) * s, left * s:(left + p) * s]
        if self.augment:
            flips = torch.rand(3) < 0.5  # horizontal, vertical, transposed
            for dims, flip in (((-1,), flips[0]), ((-2,), flips[1])):
                if flip:
                    lr, hr = lr.flip(dims), hr.flip(dims)
            if flips[2]:
                lr, hr = lr.transpose(-1, -2), hr.transpose(-1, -2)
        return lr.float() / 255, hr.float() / 255


def training_patches(root: str | os.PathLike, scale: int, channels: int, patch_size: int,
                     repeat: int, augment: bool, downscales: tuple[float, ...] = (1.0,)
                     ) -> PatchDataset:
    """The training patches of the folder ``root``; each image, at its smallest downscale,
    must hold one HR patch."""
    side = patch_size * scale
    pairs = ImagePairs(root, "data.train", scale, channels, side,
                       f"the {side}x{side} high-resolution training patch (data.patch_size="
                       f"{patch_size} at x{scale})",
                       "lower data.patch_size, raise the smallest of data.downscales, or "
                       "leave the image out of data.train", downscales)
    return PatchDataset(pairs, patch_size, repeat, augment)

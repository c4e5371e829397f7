"""ImageNet preprocessing with ``torchvision.transforms.v2``, every size a parameter.

Training follows the usual ResNet recipe: a random-resized crop (8%-100% of the area, aspect
3/4-4/3), a horizontal flip, an optional augmentation policy on the uint8 image
(:mod:`~resnets.data.policies`), conversion to float 0..1, normalisation by the ImageNet
statistics and optional random erasing of the normalised image (zeros: the mean). Evaluation
resizes the shorter side to ``size / 0.875`` (256 for 224) and takes the centre crop, or, for
the paper's 10-crop testing, the four corners and the centre plus their mirror images, stacked
into one 10 x C x H x W tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

from ..models.pretrained import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401 (data's names too)

EVAL_CROP_FRACTION = 0.875  # 224 / 256: share of the resized image the centre crop keeps


def imagenet_train_transform(size: int = 224, scale: tuple[float, float] = (0.08, 1.0),
                             mean: Sequence[float] = IMAGENET_MEAN,
                             std: Sequence[float] = IMAGENET_STD,
                             policy: v2.Transform | None = None,
                             erasing: v2.Transform | None = None) -> v2.Compose:
    """PIL image (or uint8 tensor) -> float 3 x size x size, randomly cropped and flipped,
    then ``policy`` (uint8) and ``erasing`` (normalised float) when given."""
    return v2.Compose([
        v2.ToImage(),
        v2.RandomResizedCrop(size, scale=scale, antialias=True),  # crop uint8: cheaper
        v2.RandomHorizontalFlip(),
        *([policy] if policy is not None else []),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean, std),
        *([erasing] if erasing is not None else []),
        v2.ToPureTensor(),
    ])


def imagenet_eval_transform(size: int = 224, resize: int | None = None, ten_crop: bool = False,
                            mean: Sequence[float] = IMAGENET_MEAN,
                            std: Sequence[float] = IMAGENET_STD) -> v2.Compose:
    """PIL image -> float 3 x size x size centre crop (or 10 x 3 x size x size with
    ``ten_crop``) after resizing the shorter side to ``resize`` (default size / 0.875)."""
    if resize is None:
        resize = round(size / EVAL_CROP_FRACTION)
    to_float = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    if ten_crop:  # normalising is per pixel, so it may come first and leave TenCrop last
        tail = [*to_float, v2.TenCrop(size), StackCrops()]
    else:
        tail = [v2.CenterCrop(size), *to_float, v2.ToPureTensor()]
    return v2.Compose([v2.ToImage(), v2.Resize(resize, antialias=True), *tail])


class StackCrops(torch.nn.Module):
    """Turns the tuple of crops from ``TenCrop`` into one K x C x H x W tensor.

    A v2 transform would be applied to each crop separately, hence a plain module; being a
    module-level class, it pickles into DataLoader worker processes.
    """

    def forward(self, crops: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack([crop.as_subclass(torch.Tensor) for crop in crops])

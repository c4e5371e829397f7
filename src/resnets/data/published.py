"""How the inputs of a set of published weights are prepared: timm's ``resolve_data_config``
and ``create_transform``, for the weights table of :mod:`resnets.models.pretrained`.

Each set of weights was measured with its own evaluation transform (torchvision's V1 weights
resize to 256, its V2 weights to 232, both then crop 224), so the transform follows the
weights, not the architecture. The configuration is a plain dict with timm's keys
(``input_size``, ``interpolation``, ``mean``, ``std``, ``crop_pct``, ``crop_mode``) and the
weights' own facts (``resize``, ``classes``, ``top1``, ``top5``, ``url``, ``file_name``,
``hash_prefix``). The transforms are ``torchvision.transforms.v2`` pipelines.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.functional import convert_image_dtype

from ..errors import ResnetsError
from ..models.pretrained import imagenet_classes, parse_weights_spec, published_weights


def resolve_data_config(model_or_name: nn.Module | str, weights: str | None = None
                        ) -> dict[str, Any]:
    """The input configuration of ``model_or_name``'s published ``weights``
    (``imagenet``, ``imagenet:v1``, ``imagenet:v2``; a model made with ``pretrained=True``
    defaults to the weights it holds)."""
    if isinstance(model_or_name, str):
        name, held = model_or_name, None
    else:
        cfg = getattr(model_or_name, "pretrained_cfg", None) or {}
        if "architecture" not in cfg:
            raise ResnetsError(f"{type(model_or_name).__name__} was not made by "
                               "resnets.create_model; pass the model's registry name")
        name, held = cfg["architecture"], cfg.get("tag")
    if weights is None and held is None:
        raise ResnetsError(f"say which weights of {name} (weights='imagenet' or "
                           "'imagenet:v2'): their transforms differ")
    tag = parse_weights_spec(weights) if weights is not None else held
    if tag is None:
        raise ResnetsError(f"weights={weights!r}: published weights are named 'imagenet' or "
                           "'imagenet:v1' / 'imagenet:v2'")
    entry = published_weights(name, tag)
    return {"architecture": name, "tag": entry.tag, "input_size": (3, entry.crop, entry.crop),
            "interpolation": entry.interpolation, "mean": entry.mean, "std": entry.std,
            "crop_pct": entry.crop / entry.resize, "crop_mode": "center",
            "resize": entry.resize, "num_classes": len(imagenet_classes()),
            "classes": list(imagenet_classes()), "top1": entry.top1, "top5": entry.top5,
            "url": entry.url, "file_name": entry.file_name, "hash_prefix": entry.hash_prefix}


def create_transform(config: dict[str, Any], train: bool = False) -> v2.Compose:
    """PIL image or uint8 tensor -> the float tensor the weights of ``config`` expect.

    Evaluation: resize the shorter side to ``config["resize"]`` (antialiased), centre crop,
    scale to 0..1, normalise; the same pixels as torchvision's ``weights.transforms()``.
    Training: a random-resized crop of the input size and a horizontal flip instead.
    """
    side = config["input_size"][-1]
    interpolation = InterpolationMode(config["interpolation"])
    if train:
        head = [v2.RandomResizedCrop(side, interpolation=interpolation, antialias=True),
                v2.RandomHorizontalFlip()]
    else:
        resize = config.get("resize") or round(side / config["crop_pct"])
        head = [v2.Resize(resize, interpolation=interpolation, antialias=True),
                v2.CenterCrop(side)]
    return v2.Compose([*head, v2.ToImage(), DivideTo01(),
                       v2.Normalize(list(config["mean"]), list(config["std"])),
                       v2.ToPureTensor()])


class DivideTo01(nn.Module):
    """uint8 -> float32 in 0..1 by dividing by 255, as torchvision's weight presets do.

    ``v2.ToDtype(scale=True)`` multiplies by 1/255 instead, which differs in the last bit for
    most pixels of a photo (measured on scikit-learn's two); the published accuracies were
    measured with the division. A module-level class, so it pickles into DataLoader workers.
    """

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return convert_image_dtype(image.as_subclass(torch.Tensor), torch.float32)

"""A backbone and the preprocessing of its inputs: what turns image files into feature vectors
(``resnets embed``, ``probe`` and ``verify``).

A registry model with published weights (``imagenet``, ``imagenet:v2``) is fed through the
weights' own evaluation transform (:func:`resnets.create_transform`), one with other weights
through the ImageNet evaluation transform (resize to ``size / 0.875``, centre crop, ImageNet
mean and std).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .. import data as D


@dataclass
class Embedder:
    """A backbone and the preprocessing of its inputs."""

    model: nn.Module  # in evaluation mode, on ``device``
    load: Callable[[str], torch.Tensor]  # image file -> 1 x C x H x W input
    device: torch.device
    source: str  # where the weights came from, for reports

    @property
    def num_features(self) -> int:
        return int(self.model.num_features)


class EvalCrop:
    """Image file -> 1 x 3 x size x size: ``transform`` (default: the ImageNet evaluation
    transform at ``size``) of the decoded image; picklable."""

    def __init__(self, size: int, transform: Callable | None = None) -> None:
        self.transform = transform or D.imagenet_eval_transform(size)

    def __call__(self, path: str) -> torch.Tensor:
        return self.transform(D.decode_image(path)).unsqueeze(0)


FEATURES_OF_IMAGES = "a feature extractor of images"  # what the modality check says it needs


def from_weights(model_name: str, weights: str, device: torch.device,
                 image_size: int | None = None) -> Embedder:
    """Registry model ``model_name`` without a classifier, with ``weights`` ("imagenet",
    "imagenet:v2", a weights file or run directory; "" keeps the random initialisation).

    Published weights are fed through their own evaluation transform (V2: resize 232, crop
    224), unless ``image_size`` asks for another crop."""
    from ..data.published import create_transform, resolve_data_config
    from ..models import create_model
    from ..models.pretrained import parse_weights_spec
    from ..models.registry import check_modality
    from .finetune import load_pretrained

    info = check_modality("model", model_name, "image", FEATURES_OF_IMAGES)
    transform = None
    if weights and parse_weights_spec(weights, "--weights") and not image_size:
        transform = create_transform(resolve_data_config(model_name, weights))
    model = create_model(model_name, num_classes=0)
    if weights:
        load_pretrained(model, weights, model_name)
    size = image_size or info.input_size
    return Embedder(model.to(device).eval(), EvalCrop(size, transform), device,
                    f"{model_name} ({weights or 'random weights'})")

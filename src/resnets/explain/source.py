"""The model ``resnets explain`` looks into, and how it sees an image file.

A run (its checkpoint, class names and preprocessing) or a registry model with published
ImageNet weights (their evaluation transform) or random ones. Everything that can be checked
before weights load is checked first: the model's modality, the stage (on a skeleton built on
the meta device) and the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from ..errors import ResnetsError
from .cam import resolve_stage

EXPLAINS = "Grad-CAM over images"  # what the modality check says the model must take
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class Source:
    """A model in eval mode and what goes with it."""

    model: nn.Module
    load: Callable[[str], torch.Tensor]  # image file -> 1 x C x H x W normalised input
    mean: Sequence[float]  # of the normalisation, to show the input again
    std: Sequence[float]
    classes: Sequence[str]
    description: str


def check_images(paths: Sequence[str]) -> None:
    """Every image file exists, else one line naming the first that does not."""
    for path in paths:
        if not Path(path).is_file():
            raise ResnetsError(f"image {path!r} does not exist; give image files "
                               "(.png, .jpg, ...)")


def resolve_class(spec: str | None, classes: Sequence[str]) -> int | None:
    """``--class``: an index or a class name, checked against ``classes``; None if unset."""
    if spec is None or spec == "":
        return None
    if spec in classes:
        return list(classes).index(spec)
    try:
        index = int(spec)
    except ValueError:
        index = None
    if index is None or not 0 <= index < len(classes):
        raise ResnetsError(f"--class {spec!r} is out of range: give an index from 0 to "
                           f"{len(classes) - 1} or a class name of the model")
    return index


def from_checkpoint(path: str, device: torch.device, stage: str | None,
                    class_spec: str | None) -> tuple[Source, int, int | None]:
    """(source, stage index, class index) of one of our runs."""
    from ..train.inference import load_trained, preprocess

    if not Path(path).exists():
        raise ResnetsError(f"--checkpoint {path!r} does not exist; give a run directory or "
                           "its .pt checkpoint")
    model, state, cfg = load_trained(path, device)
    stage_index = resolve_stage(model, stage)
    class_index = resolve_class(class_spec, state["classes"])
    slim = {key: state[key] for key in ("image_size", "in_chans", "mean", "std")}
    mean, std = state["mean"], state["std"]
    return (Source(model, lambda p: preprocess(p, slim, cfg), mean, std, state["classes"],
                   f"run {path!r} ({state['model_name']})"), stage_index, class_index)


@dataclass(frozen=True)
class Planned:
    """A registry model checked, before its weights load: what to build and explain."""

    name: str
    weights: str  # "" for random weights
    stage: int
    class_index: int | None
    classes: Sequence[str]


def plan_registry(name: str, weights: str, stage: str | None,
                  class_spec: str | None) -> Planned:
    """Check registry model ``name``, its ``weights`` ("imagenet", "imagenet:v2", or "none"
    for random ones), the stage and the class, on a skeleton (nothing is allocated)."""
    from ..data.published import resolve_data_config
    from ..models import create_model
    from ..models.pretrained import imagenet_classes
    from ..models.registry import check_modality

    info = check_modality("--model", name, "image", EXPLAINS)
    random = weights.lower() == "none"
    if not random:
        resolve_data_config(name, weights)  # a model without published weights fails here
    with torch.device("meta"):
        skeleton = create_model(name)
    classes = (imagenet_classes() if not random or info.num_classes == 1000
               else tuple(str(i) for i in range(info.num_classes)))
    return Planned(name, "" if random else weights, resolve_stage(skeleton, stage),
                   resolve_class(class_spec, classes), classes)


def from_registry(plan: Planned, device: torch.device) -> Source:
    """The planned model with its weights, and its preprocessing."""
    from ..data import decode_image
    from ..data.published import create_transform, resolve_data_config
    from ..models import create_model, model_info

    if not plan.weights:  # no published transform: the model's side, ImageNet's statistics
        side = model_info(plan.name).input_size
        model, mean, std = create_model(plan.name), IMAGENET_MEAN, IMAGENET_STD
        transform = create_transform({"input_size": (3, side, side), "resize": side,
                                      "interpolation": "bilinear", "mean": mean, "std": std})
    else:
        config = resolve_data_config(plan.name, plan.weights)
        model = create_model(plan.name, pretrained=True, weights=config["tag"])
        transform, mean, std = create_transform(config), config["mean"], config["std"]
    model = model.to(device).eval()
    return Source(model, lambda p: transform(decode_image(p)).unsqueeze(0), mean, std,
                  plan.classes, f"{plan.name} ({plan.weights or 'random weights'})")

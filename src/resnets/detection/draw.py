"""Boxes drawn on images with torchvision's ``draw_bounding_boxes``, one colour per class."""

from __future__ import annotations

import torch
from torchvision.utils import draw_bounding_boxes

from ..data.masks import voc_palette


def class_colour(label: int) -> tuple[int, int, int]:
    """The PASCAL VOC palette colour of class ``label`` (the masks' colours too)."""
    r, g, b = voc_palette()[label]
    return int(r), int(g), int(b)


def draw_detections(image: torch.Tensor, output: dict[str, torch.Tensor],
                    class_names: list[str]) -> torch.Tensor:
    """``image`` (uint8 3 x H x W) with each box, its class name and score."""
    labels = output["labels"].tolist()
    captions = [f"{class_names[k - 1]} {s:.2f}" for k, s in zip(labels,
                                                                 output["scores"].tolist())]
    return draw_bounding_boxes(image, output["boxes"], captions,
                               colors=[class_colour(k) for k in labels], width=2)

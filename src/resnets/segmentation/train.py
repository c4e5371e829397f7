"""Read mask folders, evaluate and apply a trained segmenter: ``resnets segment
evaluate|predict`` (training is :mod:`resnets.segmentation.task` on the engine)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.transforms.v2.functional import pil_to_tensor
from torchvision.utils import draw_segmentation_masks

from ..data.folder import decode_image
from ..train.device import resolve_device
from ..data.outputs import plan_outputs
from ..train.task_checkpoint import build_from_checkpoint, read_task_checkpoint
from ..files import atomic_path
from ..data.masks import voc_palette, write_index_png
from .data import MaskFolderDataset
from .metrics import SegmentationScore
from .models import SegmenterConfig, build_segmenter


def load_set(root: str | os.PathLike, num_classes: int, train: bool = False,
             crop_size: int = 0, skip_bad: bool = False) -> MaskFolderDataset:
    dataset = MaskFolderDataset(root, num_classes, train, crop_size, skip_bad)
    if dataset.skipped:
        print(f"{root}: skipped " + ", ".join(f"{n} ({reason})" for reason, n
                                               in sorted(dataset.skipped.items())))
    return dataset


@torch.no_grad()
def segment(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """Class ids (H x W, CPU) of one float 3 x H x W image."""
    model.eval()
    device = next(model.parameters()).device
    return model(image[None].to(device))["out"][0].argmax(0).cpu()


def evaluate_segmenter(model: nn.Module, dataset: MaskFolderDataset,
                       class_names: list[str]) -> dict[str, Any]:
    """Mean IoU, pixel accuracy and per-class IoU over ``dataset`` (one image at a time, at
    its full size)."""
    score = SegmentationScore(len(class_names), class_names)
    for index in range(len(dataset)):
        image, mask = dataset[index]
        score.update(segment(model, image), mask)
    return score.compute()


def load_segmenter(path: str | os.PathLike, device: torch.device
                   ) -> tuple[nn.Module, dict[str, Any]]:
    """The trained segmenter of a run directory or checkpoint, and the checkpoint's metadata."""
    state = read_task_checkpoint(path, "segmentation", "segmenter", SegmenterConfig)
    cfg = SegmenterConfig(**{**state["segmenter"], "weights": ""})
    model = build_from_checkpoint(build_segmenter, cfg, state, path)
    return model.to(device).eval(), state


def evaluate_run(path: str, root: str | None = None, device: str = "auto",
                 skip_bad: bool = False) -> dict[str, Any]:
    """mIoU of a trained segmenter on the folder ``root`` (default: its validation split)."""
    model, meta = load_segmenter(path, resolve_device(device))
    dataset = load_set(root or meta["data"]["val"], len(meta["classes"]), skip_bad=skip_bad)
    return evaluate_segmenter(model, dataset, list(meta["classes"]))


def overlay(image: torch.Tensor, labels: torch.Tensor, num_classes: int,
            alpha: float = 0.5) -> torch.Tensor:
    """``image`` (uint8 3 x H x W) tinted with the VOC colour of each pixel's class."""
    classes = list(range(1, num_classes))  # background stays untinted
    masks = labels[None] == torch.tensor(classes)[:, None, None]
    colours = [tuple(int(c) for c in voc_palette()[k]) for k in classes]
    return draw_segmentation_masks(image, masks, alpha=alpha, colors=colours)


def predict_images(path: str, images: list[str], out_dir: str, device: str = "auto"
                   ) -> list[Path]:
    """Write ``<stem>_overlay.png`` (colour overlay) and ``<stem>_mask.png`` (palette PNG of
    class ids) for each image into ``out_dir``; returns the files written (see
    :func:`~resnets.data.outputs.plan_outputs` for their names)."""
    _, plans = plan_outputs(images, out_dir, ["_overlay.png", "_mask.png"])
    model, meta = load_segmenter(path, resolve_device(device))
    written = []
    for file, (overlay_path, mask_path) in zip(images, plans):
        image = pil_to_tensor(decode_image(file))
        labels = segment(model, image.float() / 255)
        drawn = overlay(image, labels, len(meta["classes"]))
        with atomic_path(overlay_path) as tmp:
            Image.fromarray(drawn.permute(1, 2, 0).numpy()).save(tmp, format="PNG")
        with atomic_path(mask_path) as tmp:
            write_index_png(labels.numpy().astype(np.uint8), tmp)
        written += [overlay_path, mask_path]
    return written

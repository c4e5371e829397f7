"""Evaluation: loss, top-1/top-5 error, the confusion matrix and the calibration table over a
loader."""

from __future__ import annotations

import contextlib
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .logger import progress
from .metrics import CALIBRATION_BINS, calibration_bins, confusion_matrix, topk_correct


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str):
    """bf16 or fp16 autocast when asked for, else nothing."""
    if precision in AUTOCAST_DTYPES:
        return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[precision])
    return contextlib.nullcontext()


def batch_to_device(images: torch.Tensor, labels: torch.Tensor, device: torch.device,
                    channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch on the device it is computed on, images in NHWC when ``channels_last``.

    In-memory loaders already deliver on the device (a no-op then); image-folder loaders
    deliver CPU tensors from their worker processes (pinned when training on CUDA, so the
    copy can overlap). Text batches are (N, length): no memory format applies.
    """
    images = images.to(device, non_blocking=True)
    labels = labels.to(device, non_blocking=True)
    if channels_last and images.dim() == 4:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, labels


def mean_softmax_logits(view_logits: torch.Tensor) -> torch.Tensor:
    """(B, V, C) logits of V views of each image -> (B, C) log of their mean softmax: logits
    whose softmax is the views' averaged probabilities (what the loss and argmax then use)."""
    return view_logits.softmax(-1).mean(1).clamp_min(1e-12).log()


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable, num_classes: int, device: torch.device,
             precision: str = "fp32", channels_last: bool = False,
             ten_crop: bool = False, show_progress: bool = False, flip: bool = False) -> dict:
    """Mean loss, top-1 and top-5 error, the confusion matrix (rows: true class) and the
    calibration table (:func:`~resnets.train.metrics.calibration_bins`).

    With ``ten_crop`` each batch holds B x 10 x C x H x W crops whose softmax outputs are
    averaged per image. With ``flip`` each image's softmax is averaged with its horizontal
    mirror's (the test-time augmentation of fast CIFAR training).
    """
    was_training = model.training
    model.eval()
    loss_sum, seen = 0.0, 0
    correct = {1: 0, 5: 0}
    cm = torch.zeros(num_classes, num_classes, dtype=torch.long)
    calibration = torch.zeros(CALIBRATION_BINS, 3, dtype=torch.float64)
    total = len(batches) if hasattr(batches, "__len__") else 0
    for images, labels in progress(batches, total, "evaluate", enabled=show_progress):
        crops = images.shape[1] if ten_crop else 1
        if ten_crop:
            images = images.flatten(0, 1)
        images, labels = batch_to_device(images, labels, device, channels_last)
        with autocast(device, precision):
            logits = model(images).float()
            mirrored = model(images.flip(-1)).float() if flip else None
        if mirrored is not None:  # (B * crops, 2, C): each view and its mirror
            logits = torch.stack([logits, mirrored], 1)
        if ten_crop or flip:
            logits = mean_softmax_logits(logits.reshape(-1, crops * (1 + flip), logits.shape[-1]))
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        seen += len(labels)
        for k, n in topk_correct(logits, labels, ks=(1, 5)).items():
            correct[k] += n
        cm += confusion_matrix(logits.argmax(1).cpu(), labels.cpu(), num_classes)
        calibration += calibration_bins(logits, labels)
    model.train(was_training)
    if seen == 0:
        return {"loss": float("nan"), "top1_error": float("nan"),
                "top5_error": float("nan"), "confusion": cm, "calibration": calibration}
    return {"loss": loss_sum / seen, "top1_error": 1 - correct[1] / seen,
            "top5_error": 1 - correct[5] / seen, "confusion": cm, "calibration": calibration}

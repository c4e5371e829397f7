"""Segmentation as a task of the engine (``resnets segment train``).

The batches are image and mask pairs, flipped and cropped at random
(:class:`~resnets.data.steps.StepLoader`: a function of the seed and the step); the loss is the
pixel cross-entropy of the head (``loss_out``) plus half that of the auxiliary head
(``loss_aux``); the evaluation is the mean IoU of the validation folder, and the best ``miou``
keeps ``best.pt``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from ..data.steps import StepLoader
from ..errors import DataError
from ..train.dense import DenseData, DenseTask
from ..train.task import register_task
from .config import SegmentationConfig
from .data import IGNORE_INDEX, read_classes
from .models import build_segmenter
from .train import evaluate_segmenter, load_set

AUX_WEIGHT = 0.5  # weight of the auxiliary head's loss (torchvision's reference scripts)


@register_task
class SegmentationTask(DenseTask):
    config_class = SegmentationConfig
    monitor = "miou"
    split, split_help = "folder", "a folder holding images/ and masks/"
    shown = ("miou", "pixel_accuracy")
    model_section, named_by, build = "segmenter", ("head", "backbone"), build_segmenter

    def build_data(self, cfg: SegmentationConfig, device: torch.device, rank: int,
                   world_size: int) -> DenseData:
        d = cfg.data
        if cfg.segmenter.head == "deeplabv3" and cfg.batch_size < 2 * world_size:
            raise DataError(f"batch_size {cfg.batch_size} gives each of the {world_size} "
                            "processes one image; DeepLabV3's BatchNorm after its global "
                            f"pooling needs two: set batch_size to {2 * world_size} or more")
        classes = read_classes(d.train, d.num_classes)
        train = load_set(d.train, len(classes), True, d.crop_size, d.skip_bad)
        val = load_set(d.val, len(classes), skip_bad=d.skip_bad)
        # Whole batches: a BatchNorm after global pooling (ASPP) needs two images or more.
        loader = StepLoader(train, cfg.batch_size, cfg.seed, d.workers,
                            drop_last=len(train) >= cfg.batch_size, rank=rank,
                            world_size=world_size)
        return DenseData(loader, val=val, classes=classes)

    def losses(self, cfg: SegmentationConfig, net: nn.Module, batch: Any,
               device: torch.device) -> dict[str, torch.Tensor]:
        images, masks = (t.to(device) for t in batch)
        if cfg.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        outputs = net(images)
        ce = nn.functional.cross_entropy
        terms = {"loss_out": ce(outputs["out"], masks, ignore_index=IGNORE_INDEX)}
        if "aux" in outputs:
            terms["loss_aux"] = AUX_WEIGHT * ce(outputs["aux"], masks,
                                                ignore_index=IGNORE_INDEX)
        return terms

    def validation_metrics(self, model: nn.Module, data: DenseData, cfg: SegmentationConfig,
                           device: torch.device) -> dict[str, Any]:
        return evaluate_segmenter(model, data.val, list(data.classes))

    def metadata(self, cfg: SegmentationConfig, data: DenseData) -> dict[str, Any]:
        """What ``resnets segment evaluate|predict`` rebuild the segmenter and find its data
        by."""
        return {**super().metadata(cfg, data), "data": asdict(cfg.data)}

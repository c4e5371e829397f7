"""Detection as a task of the engine (``resnets detect train``).

The batches are COCO images with their boxes, flipped at random
(:class:`~resnets.data.steps.StepLoader`: a function of the seed and the step); the loss is the
sum of the detector's own terms (Faster R-CNN: classifier, box regression, objectness, RPN
boxes; RetinaNet: classification, box regression); the evaluation is COCO box mAP of the
validation split (pycocotools), and the best ``map`` keeps ``best.pt``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..data.coco import DetectionDataset, collate
from ..data.steps import StepLoader
from ..errors import DataError
from ..train.dense import DenseData, DenseTask
from ..train.task import register_task
from .config import DetectionConfig
from .evaluate import evaluate_detector
from .models import build_detector
from .train import image_folder, load_split


@dataclass
class DetectionData(DenseData):
    category_ids: list[int] = field(default_factory=list)  # COCO ids of the classes, in order


@register_task
class DetectionTask(DenseTask):
    config_class = DetectionConfig
    monitor, shown = "map", ("map", "map50")  # best.pt: the best COCO mAP@[.5:.95]
    split, split_help = "file", "a COCO JSON file"
    model_section, named_by, build = "detector", ("arch", "backbone"), build_detector

    def build_data(self, cfg: DetectionConfig, device: torch.device, rank: int,
                   world_size: int) -> DetectionData:
        d = cfg.data
        train, train_dir = load_split(d.train, d.train_images, d.skip_bad)
        val, val_dir = load_split(d.val, d.val_images, d.skip_bad)
        if val.category_ids != train.category_ids:
            raise DataError(f"{d.val} declares categories {val.category_ids} but {d.train} "
                            f"declares {train.category_ids}; use the same category list")
        loader = StepLoader(DetectionDataset(train, train_dir, hflip=True), cfg.batch_size,
                            cfg.seed, d.workers, collate_fn=collate, rank=rank,
                            world_size=world_size)
        return DetectionData(loader, val=DetectionDataset(val, val_dir),
                             classes=train.class_names, category_ids=train.category_ids)

    def losses(self, cfg: DetectionConfig, net: nn.Module, batch: Any,
               device: torch.device) -> dict[str, torch.Tensor]:
        images, targets = batch
        return net([image.to(device) for image in images],
                   [{k: v.to(device) for k, v in t.items()} for t in targets])

    def validation_metrics(self, model: nn.Module, data: DetectionData, cfg: DetectionConfig,
                           device: torch.device) -> dict[str, Any]:
        return evaluate_detector(model, data.val, device, cfg.eval_batch_size)

    def metadata(self, cfg: DetectionConfig, data: DetectionData) -> dict[str, Any]:
        """What ``resnets detect evaluate|predict`` rebuild the detector and find its data by."""
        d = cfg.data
        return {**super().metadata(cfg, data), "category_ids": data.category_ids,
                "data": {"train": d.train, "val": d.val, "skip_bad": d.skip_bad,
                         "train_images": os.path.abspath(image_folder(d.train, d.train_images)),
                         "val_images": os.path.abspath(image_folder(d.val, d.val_images))}}

"""The settings of a segmentation run (``resnets segment train``): the engine's, with the
defaults of a short fine-tuning run, a ``segmenter`` and its image and mask folders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..limits import FLAG, TEXT, Limit, check_fields, integer
from ..train.config import EngineConfig, OptimConfig
from ..train.dense import absolute_paths, dense_optim, dense_schedule
from ..train.schedules import ScheduleConfig
from .models import SegmenterConfig


@dataclass(frozen=True)
class SegmentationDataConfig:
    train: str = ""  # folder with images/ and masks/ of the training pairs
    val: str = ""  # folder with images/ and masks/ of the validation pairs
    crop_size: int = 0  # random square training crops, pixels; 0 = whole images (one size)
    num_classes: int = 0  # classes, background included; 0 = the lines of classes.txt
    skip_bad: bool = False  # skip and count bad image/mask pairs instead of failing
    workers: int = 0  # DataLoader worker processes; 0 = load in the main process

    KEY: ClassVar[str] = "data.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "train": TEXT, "val": TEXT, "crop_size": integer(0, 4096),
        "num_classes": integer(0, 1000), "skip_bad": FLAG, "workers": integer(0, 256),
    }

    def __post_init__(self) -> None:
        check_fields(self)
        absolute_paths(self, ("train", "val"))


@dataclass(frozen=True)
class SegmentationConfig(EngineConfig):
    """Semantic segmentation of image and mask folders (``resnets segment train``)."""

    TASK: ClassVar[str] = "segmentation"

    optim: OptimConfig = field(default_factory=dense_optim)
    schedule: ScheduleConfig = field(default_factory=dense_schedule)
    iterations: int = 1000  # optimiser steps in total (--steps); 0 = train epochs instead
    batch_size: int = 4  # the global batch: images per step, all processes together
    channels_last: bool = False  # NHWC images and weights
    eval_every: int = 0  # epochs between mIoU evaluations; 0 = only after the last epoch
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    data: SegmentationDataConfig = field(default_factory=SegmentationDataConfig)

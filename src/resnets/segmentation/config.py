"""The settings of a segmentation run (``resnets segment train``): the engine's, with the
defaults of a short fine-tuning run, a ``segmenter`` and its image and mask folders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..limits import FLAG, TEXT, Limit, check_fields, integer
from ..train.dense import DenseConfig, absolute_paths
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
class SegmentationConfig(DenseConfig):
    """Semantic segmentation of image and mask folders (``resnets segment train``)."""

    TASK: ClassVar[str] = "segmentation"

    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    data: SegmentationDataConfig = field(default_factory=SegmentationDataConfig)

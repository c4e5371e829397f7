"""The settings of a detection run (``resnets detect train``): the engine's, with the defaults
of a short detector fine-tuning run, a ``detector`` and its COCO ``data``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..limits import FLAG, TEXT, Limit, check_fields, integer
from ..train.dense import DenseConfig, absolute_paths
from .models import DetectorConfig


@dataclass(frozen=True)
class DetectionDataConfig:
    train: str = ""  # COCO JSON of the training images
    val: str = ""  # COCO JSON of the validation images
    train_images: str = ""  # folder of the training images; "" = images/ beside the JSON
    val_images: str = ""  # folder of the validation images; "" = images/ beside the JSON
    skip_bad: bool = False  # skip and count bad annotations and missing images, not fail
    workers: int = 0  # DataLoader worker processes; 0 = load in the main process

    KEY: ClassVar[str] = "data.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "train": TEXT, "val": TEXT, "train_images": TEXT, "val_images": TEXT,
        "skip_bad": FLAG, "workers": integer(0, 256),
    }

    def __post_init__(self) -> None:
        check_fields(self)
        absolute_paths(self, ("train", "val", "train_images", "val_images"))


@dataclass(frozen=True)
class DetectionConfig(DenseConfig):
    """Object detection on COCO-format data (``resnets detect train``)."""

    TASK: ClassVar[str] = "detection"

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    data: DetectionDataConfig = field(default_factory=DetectionDataConfig)

"""The settings of a super-resolution run (``resnets sr train``): the engine's, with EDSR's
training defaults, the ``network`` and its folders of high-resolution images."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import ResnetsError
from ..limits import FLAG, TEXT, Limit, check_fields, choice, integer, number
from ..models.registry import check_modality
from ..train.config import EngineConfig, OptimConfig
from ..train.dense import absolute_paths
from ..train.schedules import ScheduleConfig


@dataclass(frozen=True)
class NetworkConfig:
    """The super-resolution network; stored in its checkpoints to rebuild it."""

    name: str = "edsr_baseline_x2"  # registry model, its scale in its name (`resnets models`)
    residual: bool = True  # false: the same layers without any skip (the ablation)
    blocks: int = 0  # EDSR residual blocks; 0 = the model's own (EDSR-baseline: 16)
    features: int = 0  # feature channels; 0 = the model's own (EDSR-baseline, VDSR: 64)
    res_scale: float = 0.0  # EDSR residual scaling; 0 = the model's own (baseline 1, EDSR 0.1)
    layers: int = 0  # VDSR convolutions; 0 = the model's own (20)

    KEY: ClassVar[str] = "network.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "name": TEXT, "residual": FLAG, "blocks": integer(0, 256),
        "features": integer(0, 1024), "res_scale": number(0, 1), "layers": integer(0, 256),
    }

    def __post_init__(self) -> None:
        check_fields(self)
        check_modality("network.name", self.name, "image", "super-resolution",
                       task="super-resolution")

    def options(self) -> dict[str, Any]:
        """The registry builder's options: those set (not 0), and ``residual``."""
        sizes = {k: getattr(self, k) for k in ("blocks", "features", "res_scale", "layers")}
        return {**{k: v for k, v in sizes.items() if v}, "residual": self.residual}


@dataclass(frozen=True)
class SRDataConfig:
    train: str = ""  # folder of the high-resolution training images (any size)
    val: str = ""  # folder of the high-resolution validation images, scored whole
    channels: int = 3  # 3: RGB | 1: grayscale (medical scans); images are converted to it
    patch_size: int = 48  # side of the low-resolution training patches; HR: scale x larger
    repeat: int = 20  # patches cut from each training image per epoch
    augment: bool = True  # random flips and transposition of the patches (EDSR's)
    downscales: tuple[float, ...] = (1.0,)  # train on each image also shrunk by these factors
    workers: int = 0  # DataLoader worker processes; 0 = load in the main process

    KEY: ClassVar[str] = "data.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "train": TEXT, "val": TEXT, "channels": choice(1, 3), "patch_size": integer(4, 1024),
        "repeat": integer(1, 100_000), "augment": FLAG, "workers": integer(0, 256),
        "downscales": Limit(float, 0, 1, open_low=True, many=True),
    }

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.downscales:
            raise ResnetsError("data.downscales is empty; give at least one factor in (0, 1], "
                               "e.g. data.downscales=1.0 (the images as they are)")
        absolute_paths(self, ("train", "val"))


# EDSR's training (Lim et al. 2017, Sec. 4.2): Adam (beta 0.9, 0.999, eps 1e-8) at lr 1e-4,
# halved after 2 x 10^5 updates, batches of 16 patches, L1 loss, no weight decay.
def edsr_optim() -> OptimConfig:
    return OptimConfig(name="adamw", lr=1e-4, weight_decay=0.0)


def edsr_schedule() -> ScheduleConfig:
    return ScheduleConfig(name="step", milestones=(200_000,), gamma=0.5)


@dataclass(frozen=True)
class SRConfig(EngineConfig):
    """Single-image super-resolution of folders of images (``resnets sr train``)."""

    TASK: ClassVar[str] = "super-resolution"

    optim: OptimConfig = field(default_factory=edsr_optim)
    schedule: ScheduleConfig = field(default_factory=edsr_schedule)
    iterations: int = 1000  # optimiser steps in total (--steps); 0 = train epochs instead
    batch_size: int = 16  # the global batch: patches per step, all processes together
    eval_every: int = 0  # epochs between evaluations; 0 = only after the last epoch
    network: NetworkConfig = field(default_factory=NetworkConfig)
    data: SRDataConfig = field(default_factory=SRDataConfig)

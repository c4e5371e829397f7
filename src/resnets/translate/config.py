"""The settings of a translation run (``resnets translate train``): the engine's (``optim``:
the generator's optimiser), ``d_optim`` (the discriminator's), the networks and the loss
(``translator``) and the paired folders (``data``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..limits import FLAG, TEXT, Limit, check_fields, integer, number
from ..train.config import EngineConfig, OptimConfig
from ..train.dense import absolute_paths
from ..train.schedules import ScheduleConfig


@dataclass(frozen=True)
class TranslatorConfig:
    width: int = 32  # generator width after its first conv (pix2pix/CycleGAN: 64)
    blocks: int = 6  # residual blocks at a quarter of the resolution (CycleGAN: 6 or 9)
    residual: bool = True  # False: the blocks without shortcuts (the plain twin)
    d_width: int = 32  # PatchGAN width (pix2pix: 64)
    d_layers: int = 3  # PatchGAN depth (3: pix2pix's 70 x 70 patches)
    l1_weight: float = 100.0  # weight of L1(G(a), b) beside the adversarial loss (pix2pix)

    KEY: ClassVar[str] = "translator.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "width": integer(1, 1024), "blocks": integer(0, 64), "residual": FLAG,
        "d_width": integer(1, 1024), "d_layers": integer(1, 8), "l1_weight": number(0, 1e6),
    }

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class PairedDataConfig:
    train: str = ""  # folder with A/ and B/ of the training pairs (the same file names)
    val: str = ""  # folder with A/ and B/ of the held-out pairs

    KEY: ClassVar[str] = "data.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {"train": TEXT, "val": TEXT}

    def __post_init__(self) -> None:
        check_fields(self)
        absolute_paths(self, ("train", "val"))


def adam(lr: float) -> OptimConfig:
    """pix2pix's Adam(lr 2e-4, beta1 0.5), no weight decay."""
    return OptimConfig(name="adamw", lr=lr, momentum=0.5, weight_decay=0.0)


@dataclass(frozen=True)
class TranslateConfig(EngineConfig):
    """Paired image-to-image translation (``resnets translate train``)."""

    TASK: ClassVar[str] = "translate"

    optim: OptimConfig = field(default_factory=lambda: adam(2e-4))
    d_optim: OptimConfig = field(default_factory=lambda: adam(2e-4))
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(name="constant"))
    translator: TranslatorConfig = field(default_factory=TranslatorConfig)
    data: PairedDataConfig = field(default_factory=PairedDataConfig)
    epochs: int = 20
    batch_size: int = 8
    eval_batch_size: int = 32
    eval_every: int = 0  # epochs between evaluations; 0 = only after the last epoch
    channels_last: bool = False

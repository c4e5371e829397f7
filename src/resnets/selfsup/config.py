"""The settings of a self-supervised pretraining run (``resnets pretrain train``): the
engine's, a ``ssl`` section (method, backbone, heads, kNN evaluation), the ``data`` of
unlabelled images and the random ``views`` of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..data.views import ViewsConfig
from ..limits import FLAG, TEXT, Limit, check_fields, choice, integer, number
from ..train.config import EngineConfig, OptimConfig
from ..train.recipes import Recipe, register_recipes
from ..train.schedules import ScheduleConfig

METHODS = ("simclr", "byol")
DATASETS = ("digits", "cifar10", "cifar100", "synthetic")


@dataclass(frozen=True)
class SelfSupSettings:
    method: str = "simclr"  # simclr (NT-Xent of two views) | byol (EMA target, predictor)
    model: str = "resnet20"  # backbone: a registry image model (`resnets models`)
    proj_hidden: int = 2048  # projector MLP's hidden width
    proj_dim: int = 128  # projector output (the embedding the loss sees)
    pred_hidden: int = 512  # byol: the predictor MLP's hidden width
    temperature: float = 0.2  # simclr: NT-Xent temperature tau
    momentum: float = 0.99  # byol: target momentum at the start; cosine-increased to 1
    knn_k: int = 200  # kNN evaluation: neighbours that vote
    knn_temperature: float = 0.1  # kNN evaluation: votes weighted by exp(cosine / this)

    KEY: ClassVar[str] = "ssl.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "method": choice(*METHODS), "model": TEXT, "proj_hidden": integer(1, 65536),
        "proj_dim": integer(1, 65536), "pred_hidden": integer(1, 65536),
        "temperature": number(0, 100, open_low=True), "momentum": number(0, 1, open_low=True),
        "knn_k": integer(1, 100_000), "knn_temperature": number(0, 100, open_low=True),
    }

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class SelfSupDataConfig:
    """The images (their labels serve the kNN evaluation only, never training)."""

    dataset: str = "digits"  # digits | cifar10 | cifar100 | synthetic
    root: str = ""  # folder holding the CIFAR files ("" for digits and synthetic)
    download: bool = False  # CIFAR: fetch the official archive when the files are missing
    resize: int = 0  # resize the images once to this side, pixels (0 keeps)
    synthetic_size: int = 512  # synthetic data: training images (test: a quarter of it)
    train_fraction: float = 1.0  # keep this share of the training images (class-balanced)

    KEY: ClassVar[str] = "data.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "dataset": choice(*DATASETS), "root": TEXT, "download": FLAG,
        "resize": integer(0, 2048), "synthetic_size": integer(1, 1_000_000),
        "train_fraction": number(0, 1, open_low=True),
    }

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class SelfSupConfig(EngineConfig):
    """Self-supervised pretraining of a backbone on unlabelled images."""

    TASK: ClassVar[str] = "selfsup"

    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.3, weight_decay=5e-4))
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(warmup_iters=100))
    epochs: int = 100  # passes over the training images
    batch_size: int = 256  # images per step (each gives two views)
    channels_last: bool = False  # NHWC images and model
    eval_every: int = 10  # epochs between kNN evaluations; 0 = after the last only
    ssl: SelfSupSettings = field(default_factory=SelfSupSettings)
    data: SelfSupDataConfig = field(default_factory=SelfSupDataConfig)
    views: ViewsConfig = field(default_factory=ViewsConfig)


SOLO_LEARN = "solo-learn's CIFAR settings (da Costa et al. 2022, JMLR 23(56)); ResNet-20"
register_recipes([
    Recipe("simclr-cifar10", "SimCLR on CIFAR-10 images, labels unused (docs/selfsup.md)",
           f"Chen et al. 2020, arXiv:2002.05709, App. B.9; {SOLO_LEARN}",
           {"ssl.method": "simclr", "data.dataset": "cifar10", "ssl.temperature": 0.2,
            "batch_size": 256, "optim.lr": 0.3}, task="selfsup"),
    Recipe("byol-cifar10", "BYOL on CIFAR-10 images, labels unused (docs/selfsup.md)",
           f"Grill et al. 2020, arXiv:2006.07733, Sec. 3.3; {SOLO_LEARN}",
           {"ssl.method": "byol", "data.dataset": "cifar10", "ssl.momentum": 0.99,
            "views.solarize": 0.1, "batch_size": 256, "optim.lr": 0.3}, task="selfsup"),
])

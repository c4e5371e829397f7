"""The configuration of `resnets continual`: the engine's fields and a ``continual`` section.

Each experience (one class-incremental task) is one engine run, so the engine's fields mean
what they mean for every task, per experience: ``epochs`` (passes over the experience's
training images), ``batch_size``, ``optim.*``, ``schedule.*`` (a fresh optimiser and cosine
decay per experience), ``precision``, ``compile``, ``channels_last``, ``deterministic``. The
``continual`` section holds the sequence and its strategy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..limits import FLAG, TEXT, SEED_MAX, Limit, check_fields, choice, integer, number
from ..train.config import EngineConfig, OptimConfig
from ..train.recipes import Recipe, register_recipes
from .strategies import MEMORY_POLICIES, STRATEGIES

DATASETS = ("digits", "cifar10", "cifar100", "synthetic")


@dataclass(frozen=True)
class ContinualSettings:
    strategy: str = "finetune"  # finetune | replay | ewc | lwf (the option: a list to compare)
    data: str = "digits"  # digits | cifar10 | cifar100 | synthetic
    root: str = ""  # folder holding the CIFAR files ("" for digits and synthetic)
    tasks: int = 5  # tasks (experiences) the classes are split into, in order
    class_order_seed: int = -1  # -1: classes in label order; else a seeded shuffle
    model: str = "resnet20"  # registry name, see `resnets models`
    augment: bool = True  # random shifts (digits) / pad-crop-flip (CIFAR) of training images
    memory: int = 200  # replay: images kept from past tasks
    memory_policy: str = "balanced"  # replay: balanced (per class) | reservoir
    ewc_lambda: float = 1000.0  # ewc: strength of the quadratic anchor (lambda)
    fisher_samples: int = 500  # ewc: training images per task for the diagonal Fisher
    lwf_alpha: float = 1.0  # lwf: weight of the distillation term
    lwf_temperature: float = 2.0  # lwf: softmax temperature T of the distillation
    synthetic_size: int = 512  # synthetic data: training images (test: a quarter)
    resize: int = -1  # resize the images once to this side, pixels; -1: digits 16, else keep

    KEY: ClassVar[str] = "continual.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "strategy": choice(*STRATEGIES), "data": choice(*DATASETS), "root": TEXT,
        "tasks": integer(1, 1000), "class_order_seed": integer(0, SEED_MAX, also=(-1,)),
        "model": TEXT, "augment": FLAG, "memory": integer(1, 1_000_000),
        "memory_policy": choice(*MEMORY_POLICIES), "ewc_lambda": number(0, 1e9),
        "fisher_samples": integer(1, 1_000_000), "lwf_alpha": number(0, 1000),
        "lwf_temperature": number(0, 100, open_low=True),
        "synthetic_size": integer(1, 1_000_000), "resize": integer(0, 2048, also=(-1,)),
    }

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class ContinualConfig(EngineConfig):
    """A sequence of class-incremental experiences (``resnets continual``)."""

    TASK: ClassVar[str] = "continual"

    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.05, weight_decay=5e-4))
    epochs: int = 10  # passes over each experience's training images
    batch_size: int = 32  # current-task images per step (replay adds as many from memory)
    channels_last: bool = False  # NHWC images and model (the measured results used NCHW)
    eval_every: int = 0  # epochs between evaluations; 0 = after each experience's last
    run_name: str = ""  # run directory name; "" = continual-STRATEGY-DATA
    continual: ContinualSettings = field(default_factory=ContinualSettings)


register_recipes([
    Recipe("continual-digits-replay", "split digits, 5 tasks of 2 classes: experience replay "
           "from 200 images (docs/continual.md)", "this project (docs/continual.md)",
           {"continual.strategy": "replay", "continual.data": "digits",
            "continual.memory": 200}, task="continual"),
    Recipe("split-cifar10-replay", "Seq-CIFAR-10 (5 tasks of 2 classes, 50 epochs each, "
           "batch 32, 200 replayed images); ResNet-20 for their ResNet-18",
           "Buzzega et al. 2020, Dark Experience for General Continual Learning, "
           "arXiv:2004.07211, Sec. 5",
           {"continual.strategy": "replay", "continual.data": "cifar10",
            "continual.tasks": 5, "continual.memory": 200, "epochs": 50,
            "batch_size": 32}, task="continual"),
])

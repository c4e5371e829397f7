"""The sections of a classification run's configuration (``model.*``, ``data.*``, ``optim.*``,
``adv.*``): one frozen, typed dataclass each, with the limits every value is checked against.

``config.py`` assembles them into :class:`~resnets.train.config.TrainConfig`; other tasks reuse
:class:`OptimConfig` and add sections of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..limits import BATCH_MAX, FLAG, FRACTION, TEXT, Limit, check_fields, choice, integer, number

OPTIMIZERS = ("sgd", "adamw", "lamb", "lars")  # optim.name
IMAGE_SIDE_MAX = 2048  # classification image sides, pixels: 2048^2 x 3 floats = 48 MiB each


@dataclass(frozen=True)
class ModelConfig:
    name: str = "resnet20"  # registry name, see `resnets models`
    depth: int = 0  # layers of an any-depth builder (cifar_resnet, cifar_plain); 0 = none
    num_classes: int = 0  # 0 = as many as the data has; else it must match the data
    shortcut: str = ""  # "" keeps the model's own; A | B | C | none
    stem: str = ""  # "" keeps the model's own; imagenet (7x7/2 + pool) | cifar (one 3x3)
    norm: str = "batch"  # batch | group (GroupNorm: per-image, exact under any batch split)
    zero_init_residual: bool = False  # zero each residual branch's last BN scale at init
    drop_rate: float = 0.0  # dropout probability before the classifier
    block_dropout: float = -1.0  # dropout inside residual branches (WRN: 0.3); -1 = model's own
    drop_path_rate: float = 0.0  # stochastic depth: drop probability of the deepest block
    grad_checkpointing: bool = False  # recompute stage activations in backward (saves memory)
    pretrained: str = ""  # "" | imagenet | imagenet:v2 | run dir | .pt/.pth/.safetensors file
    freeze_stages: int = 0  # stem + this many stages frozen, BN stats too; -1 = all but head

    KEY: ClassVar[str] = "model.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "name": TEXT, "depth": integer(0, 2000), "num_classes": integer(0, 100_000),
        "shortcut": TEXT, "stem": choice("", "imagenet", "cifar"),
        "norm": choice("batch", "group"), "zero_init_residual": FLAG, "drop_rate": FRACTION,
        "block_dropout": number(0, 1, open_high=True, also=(-1,)),
        "drop_path_rate": FRACTION, "grad_checkpointing": FLAG, "pretrained": TEXT,
        "freeze_stages": integer(0, 16, also=(-1,)),
    }

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "digits"  # digits | synthetic | cifar10 | cifar100 | folder | speech | text
    root: str = ""  # directory holding the dataset files ("" for digits and synthetic)
    val_size: int = 0  # training images held out for validation (the paper: 5000); 0 = none
    augment: str = "auto"  # auto | cifar (pad-crop-flip) | crop (pad-crop) | none
    crop_padding: int = 4  # pixels of zero padding before the random crop
    resize: int = 0  # in-memory data: resize images once to this side, pixels (0 keeps)
    image_size: int = 224  # image folders: training crop side, pixels
    download: bool = False  # CIFAR: fetch the official archive when the files are missing
    skip_corrupt: bool = False  # folders, speech, text: skip unreadable files/rows, not fail
    check_images: bool = True  # image folders: verify every image before training starts
    workers: int = 2  # image folders: loader processes
    synthetic_size: int = 512  # synthetic data: training images (test: a quarter of it)
    train_fraction: float = 1.0  # keep this share of the training set, class-balanced
    mixup_alpha: float = 0.0  # mixup: Beta(alpha, alpha) mixing of image pairs; 0 = off
    cutmix_alpha: float = 0.0  # cutmix: Beta(alpha, alpha) pasted-box area; 0 = off
    eval_flip: bool = False  # evaluation: average each image's softmax with its mirror's

    KEY: ClassVar[str] = "data.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "dataset": choice("digits", "synthetic", "cifar10", "cifar100", "folder", "speech",
                          "text"),
        "root": TEXT, "val_size": integer(0, 10_000_000),
        "augment": choice("auto", "cifar", "crop", "none"), "crop_padding": integer(0, 256),
        "resize": integer(0, IMAGE_SIDE_MAX), "image_size": integer(1, IMAGE_SIDE_MAX),
        "download": FLAG, "skip_corrupt": FLAG, "check_images": FLAG, "workers": integer(0, 256),
        "synthetic_size": integer(1, 1_000_000),
        "train_fraction": number(0, 1, open_low=True),
        "mixup_alpha": number(0, 100), "cutmix_alpha": number(0, 100), "eval_flip": FLAG,
    }

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class OptimConfig:
    name: str = "sgd"  # sgd | adamw (decoupled decay) | lamb | lars (layer-wise, large batches)
    lr: float = 0.1  # peak learning rate for one step of the (global) batch
    momentum: float = 0.9  # SGD momentum (adamw: unused)
    nesterov: bool = False  # Nesterov momentum
    weight_decay: float = 1e-4  # L2 penalty per step
    decay_norm_and_bias: bool = True  # False: no weight decay on norm parameters and biases
    label_smoothing: float = 0.0  # target probability mass spread uniformly over classes
    grad_clip: float = 0.0  # clip the global gradient norm to this value; 0 = off
    accum_steps: int = 1  # batches whose gradients add up to one optimiser step
    ema_decay: float = 0.0  # exponential moving average of weights per step; 0 = off
    swa_start: float = 0.0  # SWA from this fraction of training (<1) or epoch on; 0 = off
    swa_lr: float = 0.0  # constant lr while SWA averages; 0 = the schedule's
    scale_lr_with_batch: int = 0  # batch that lr is tuned for: lr *= batch_size / this; 0 = off
    backbone_lr_scale: float = 1.0  # pretrained backbone's lr = this x lr (the new head: lr)

    KEY: ClassVar[str] = "optim.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "name": choice(*OPTIMIZERS), "lr": number(0, 10, open_low=True), "momentum": FRACTION,
        "nesterov": FLAG, "weight_decay": number(0, 1), "decay_norm_and_bias": FLAG,
        "label_smoothing": FRACTION, "grad_clip": number(0, 1e6),
        "accum_steps": integer(1, 4096), "ema_decay": FRACTION,
        "swa_start": number(0, 100000), "swa_lr": number(0, 10),
        "scale_lr_with_batch": integer(0, BATCH_MAX), "backbone_lr_scale": number(0, 100),
    }

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class AdversarialConfig:
    """Adversarial training: each batch is replaced by attacked images before the step."""

    method: str = "none"  # none | pgd (Madry et al. 2018) | fgsm (random start, Wong 2020)
    norm: str = "linf"  # linf | l2: the ball the perturbation stays in
    eps: float = 8 / 255  # radius of the ball, in [0, 1] pixel units (fractions: 8/255)
    step_size: float = 2 / 255  # attack step, pixel units (FGSM: 1.25 * eps is usual)
    steps: int = 7  # PGD iterations per batch
    random_start: bool = True  # start from a uniform random point in the ball

    KEY: ClassVar[str] = "adv.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "method": choice("none", "pgd", "fgsm"), "norm": choice("linf", "l2"),
        "eps": number(0, 100), "step_size": number(0, 100, open_low=True),
        "steps": integer(1, 1000), "random_start": FLAG,
    }

    def __post_init__(self) -> None:
        check_fields(self)

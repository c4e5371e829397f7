"""The sections of a classification run's configuration (``model.*``, ``data.*``, ``optim.*``,
``adv.*``, ``gate.*``), and the engine's ``log.*`` (experiment trackers,
:mod:`~resnets.train.tracking`): one frozen, typed dataclass each, with the limits every value
is checked against.

``config.py`` assembles them into :class:`~resnets.train.config.TrainConfig`; other tasks reuse
:class:`OptimConfig` and add sections of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..data.decode import DECODERS
from ..data.policies import AUTOAUGMENT_POLICIES, MAGNITUDE_BINS, POLICIES
from ..data.sampling import REPEATS_MAX
from ..limits import (BATCH_MAX, FLAG, FRACTION, TEXT, Limit, check_fields, choice, integer,
                      integers, number)

OPTIMIZERS = ("sgd", "adamw", "lamb", "lars")  # optim.name
LOSSES = ("ce", "bce")  # optim.loss
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
    attn_layer: str = ""  # "" none | se | cbam | eca | gc on every residual branch
    se_reduction: int = 16  # reduction ratio r of attn_layer se, cbam and gc
    grad_checkpointing: bool = False  # recompute stage activations in backward (saves memory)
    pretrained: str = ""  # "" | imagenet | imagenet:v2 | run dir | .pt/.pth/.safetensors file
    freeze_stages: int = 0  # stem + this many stages frozen, BN stats too; -1 = all but head
    branch_widths: tuple[int, ...] = ()  # pruned: channels inside each residual branch, block
    # by block (resnets prune writes them); () = the model's own
    bn_l1: float = 0.0  # network slimming: L1 penalty on every BN scale, added to the loss

    KEY: ClassVar[str] = "model.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "name": TEXT, "depth": integer(0, 2000), "num_classes": integer(0, 100_000),
        "shortcut": TEXT, "stem": choice("", "imagenet", "cifar"),
        "norm": choice("batch", "group"), "zero_init_residual": FLAG, "drop_rate": FRACTION,
        "block_dropout": number(0, 1, open_high=True, also=(-1,)),
        "drop_path_rate": FRACTION, "attn_layer": choice("", "se", "cbam", "eca", "gc"),
        "se_reduction": integer(1, 1024), "grad_checkpointing": FLAG, "pretrained": TEXT,
        "freeze_stages": integer(0, 16, also=(-1,)), "branch_widths": integers(1, 1_000_000),
        "bn_l1": number(0, 1),
    }

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "digits"  # digits | synthetic | cifar10 | cifar100 | folder | webdataset |
    # speech | text
    root: str = ""  # dataset files' directory ("" for digits, synthetic); webdataset: shards
    val_root: str = ""  # webdataset: evaluation shards; "" = ROOT/val beside ROOT/train
    val_size: int = 0  # training images held out for validation (the paper: 5000); 0 = none
    augment: str = "auto"  # auto | cifar (pad-crop-flip) | crop (pad-crop) | none
    crop_padding: int = 4  # pixels of zero padding before the random crop
    resize: int = 0  # in-memory data: resize images once to this side, pixels (0 keeps)
    image_size: int = 224  # image folders: training crop side, pixels
    download: bool = False  # CIFAR: fetch the official archive when the files are missing
    skip_corrupt: bool = False  # folders, speech, text: skip unreadable files/rows, not fail
    check_images: bool = True  # image folders: verify every image before training starts
    workers: int = 2  # image folders, webdataset: loader processes
    persistent_workers: bool = True  # keep the loader processes from epoch to epoch
    prefetch_factor: int = 2  # batches each loader process keeps ready
    decoder: str = "auto"  # image files: auto (the fastest measured: torchvision) | pil |
    # torchvision (JPEGs decoded on the GPU when training on CUDA)
    synthetic_size: int = 512  # synthetic data: training images (test: a quarter of it)
    train_fraction: float = 1.0  # keep this share of the training set, class-balanced
    mixup_alpha: float = 0.0  # mixup: Beta(alpha, alpha) mixing of image pairs; 0 = off
    cutmix_alpha: float = 0.0  # cutmix: Beta(alpha, alpha) pasted-box area; 0 = off
    policy: str = "none"  # none | trivialaugment | randaugment | autoaugment | augmix (per image)
    randaugment_ops: int = 2  # randaugment: ops applied to each image
    randaugment_magnitude: int = 9  # randaugment: strength of every op, in bins 0..30
    autoaugment_policy: str = "imagenet"  # autoaugment: the learned policy, imagenet|cifar10|svhn
    augmix_severity: int = 3  # augmix: strength of the mixed ops, 1..10
    erasing: float = 0.0  # random erasing: probability that an image gets a box erased
    repeated_aug: int = 1  # repeated augmentation: copies of each drawn image; epochs keep length
    eval_resize: int = 0  # image folders: evaluation's shorter side, pixels; 0 = crop / 0.875
    eval_size: int = 0  # image folders: evaluation's centre crop side, pixels; 0 = image_size
    eval_flip: bool = False  # evaluation: average each image's softmax with its mirror's

    KEY: ClassVar[str] = "data.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "dataset": choice("digits", "synthetic", "cifar10", "cifar100", "folder", "webdataset",
                          "speech", "text"),
        "root": TEXT, "val_root": TEXT, "val_size": integer(0, 10_000_000),
        "augment": choice("auto", "cifar", "crop", "none"), "crop_padding": integer(0, 256),
        "resize": integer(0, IMAGE_SIDE_MAX), "image_size": integer(1, IMAGE_SIDE_MAX),
        "download": FLAG, "skip_corrupt": FLAG, "check_images": FLAG, "workers": integer(0, 256),
        "persistent_workers": FLAG, "prefetch_factor": integer(1, 1024),
        "decoder": choice(*DECODERS), "synthetic_size": integer(1, 1_000_000),
        "train_fraction": number(0, 1, open_low=True),
        "mixup_alpha": number(0, 100), "cutmix_alpha": number(0, 100),
        "policy": choice(*POLICIES), "randaugment_ops": integer(1, 16),
        "randaugment_magnitude": integer(0, MAGNITUDE_BINS - 1),
        "autoaugment_policy": choice(*AUTOAUGMENT_POLICIES), "augmix_severity": integer(1, 10),
        "erasing": FRACTION, "repeated_aug": integer(1, REPEATS_MAX),
        "eval_resize": integer(0, IMAGE_SIDE_MAX), "eval_size": integer(0, IMAGE_SIDE_MAX),
        "eval_flip": FLAG,
    }

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class OptimConfig:
    name: str = "sgd"  # sgd | adamw (decoupled decay) | lamb | lars (layer-wise, large batches)
    lr: float = 0.1  # peak learning rate for one step of the (global) batch
    momentum: float = 0.9  # SGD momentum (adamw: beta1)
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
    loss: str = "ce"  # ce: softmax cross-entropy | bce: one-vs-all binary cross-entropy (RSB)
    bce_threshold: float = 0.0  # bce: (mixed) targets above this become 1, else 0; 0 = soft

    KEY: ClassVar[str] = "optim.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "name": choice(*OPTIMIZERS), "lr": number(0, 10, open_low=True), "momentum": FRACTION,
        "nesterov": FLAG, "weight_decay": number(0, 1), "decay_norm_and_bias": FLAG,
        "label_smoothing": FRACTION, "grad_clip": number(0, 1e6),
        "accum_steps": integer(1, 4096), "ema_decay": FRACTION,
        "swa_start": number(0, 100000), "swa_lr": number(0, 10),
        "scale_lr_with_batch": integer(0, BATCH_MAX), "backbone_lr_scale": number(0, 100),
        "loss": choice(*LOSSES), "bce_threshold": number(0, 1, open_high=True),
    }

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class QuantConfig:
    """Quantization-aware training (:mod:`resnets.train.qat`): the model trains through int8
    fake quantization, to be converted by ``resnets quantize RUN_DIR`` afterwards."""

    qat: bool = False  # fine-tune with fake int8 (fine-tune from model.pretrained=RUN_DIR)

    KEY: ClassVar[str] = "quant.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {"qat": FLAG}

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


@dataclass(frozen=True)
class DistillConfig:
    """Knowledge distillation from a trained run's soft targets (train/distill.py)."""

    teacher: str = ""  # run directory of the teacher; "" = no distillation
    temperature: float = 4.0  # T: both softmaxes of the soft term divided by it
    weight: float = 0.9  # w: loss = (1 - w) * hard-label loss + w * T^2 * KL(teacher||student)
    attention: float = 0.0  # beta of attention transfer at the stage outputs (paper: 1000); 0=off

    KEY: ClassVar[str] = "distill.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "teacher": TEXT, "temperature": number(0, 100, open_low=True), "weight": number(0, 1),
        "attention": number(0, 1e6),
    }

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class GateConfig:
    """Gated models (``*_gated``): the target-rate loss that teaches each gate how often to
    run its block (Veit & Belongie 2018): ``weight`` x mean over gates of (rate - target)^2,
    the rate being the fraction of the batch whose gate is on."""

    target: float = 0.6  # fraction of the images each gated block should run on
    weight: float = 2.0  # weight of the rate loss next to the cross-entropy; 0 = no loss

    KEY: ClassVar[str] = "gate.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {"target": FRACTION, "weight": number(0, 1000)}

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class LogConfig:
    """Where a run is reported besides its run directory (TensorBoard, CSV, JSON lines)."""

    mlflow: str = ""  # MLflow tracking directory (local file store) or URI; "" = off
    wandb: str = ""  # Weights & Biases project; "" = off
    wandb_mode: str = "offline"  # offline (sync later with `wandb sync`) | online
    experiment: str = "resnets"  # MLflow experiment the runs are filed under

    KEY: ClassVar[str] = "log.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "mlflow": TEXT, "wandb": TEXT, "wandb_mode": choice("offline", "online"),
        "experiment": TEXT,
    }

    def __post_init__(self) -> None:
        check_fields(self)

"""The settings of a GAN run (``resnets gan train``): the engine's (``optim``: the
generator's optimiser), ``d_optim`` (the discriminator's), the networks (``gan``), the real
images (``data``) and what each evaluation measures (``eval``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

from ..errors import ResnetsError
from ..limits import FLAG, TEXT, Limit, check_fields, choice, integer
from ..train.config import EngineConfig, OptimConfig
from ..train.dense import absolute_paths
from ..train.schedules import ScheduleConfig


@dataclass(frozen=True)
class GanModelConfig:
    image_size: int = 32  # side of the generated (and real) images: bottom x a power of two
    bottom: int = 4  # side of the generator's first map (and the discriminator's last)
    z_dim: int = 128  # noise dimensions
    g_channels: int = 64  # generator width (every resolution)
    d_channels: int = 64  # discriminator width
    residual: bool = True  # False: the plain twin (no shortcuts) for the ablation
    conditional: bool = True  # class-conditional BN in G, projection in D
    n_dis: int = 1  # discriminator steps per generator step (each on a batch of its own)

    KEY: ClassVar[str] = "gan.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "image_size": choice(8, 16, 32, 64, 128), "bottom": choice(2, 4, 8),
        "z_dim": integer(1, 4096),
        "g_channels": integer(1, 4096), "d_channels": integer(1, 4096), "residual": FLAG,
        "conditional": FLAG, "n_dis": integer(1, 100),
    }

    def __post_init__(self) -> None:
        check_fields(self)
        if self.bottom >= self.image_size:
            raise ResnetsError(f"gan.bottom={self.bottom} leaves no up-block for "
                               f"{self.image_size}-pixel images; lower it")


@dataclass(frozen=True)
class GanDataConfig:
    dataset: str = "digits"  # digits (embedded) | cifar10 (from root)
    root: str = ""  # cifar10: folder holding its files

    KEY: ClassVar[str] = "data.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {"dataset": choice("digits", "cifar10"), "root": TEXT}

    def __post_init__(self) -> None:
        check_fields(self)
        absolute_paths(self, ("root",))


@dataclass(frozen=True)
class GanEvalConfig:
    classifier: str = ""  # run dir or checkpoint of a classifier of this project; "" = none
    samples: int = 0  # generated images per evaluation; 0 = as many as the held-out images
    grid_columns: int = 10  # images per class (row) in the sample grid

    KEY: ClassVar[str] = "eval.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "classifier": TEXT, "samples": integer(0, 1_000_000), "grid_columns": integer(1, 64),
    }

    def __post_init__(self) -> None:
        check_fields(self)
        absolute_paths(self, ("classifier",))


# SN-GAN/BigGAN practice: Adam with beta1 = 0, no weight decay; the discriminator learns
# faster (two time-scales: 4e-4 against 1e-4, Heusel et al. 2017; Zhang et al. 2019).
def gan_optim(lr: float) -> OptimConfig:
    return OptimConfig(name="adamw", lr=lr, momentum=0.0, weight_decay=0.0)


@dataclass(frozen=True)
class GanConfig(EngineConfig):
    """A residual GAN (``resnets gan train``)."""

    TASK: ClassVar[str] = "gan"

    optim: OptimConfig = field(default_factory=lambda: replace(gan_optim(1e-4),
                                                               ema_decay=0.999))
    d_optim: OptimConfig = field(default_factory=lambda: gan_optim(4e-4))
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(name="constant"))
    gan: GanModelConfig = field(default_factory=GanModelConfig)
    data: GanDataConfig = field(default_factory=GanDataConfig)
    eval: GanEvalConfig = field(default_factory=GanEvalConfig)
    epochs: int = 100
    batch_size: int = 64  # real images per discriminator step (and generated per G step)
    eval_every: int = 10  # epochs between evaluations (each writes a sample grid)
    channels_last: bool = False

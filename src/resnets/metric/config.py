"""The settings of a metric-learning run (``resnets metric train``): the engine's, the
classification ``model`` and ``data`` sections (``data.classes`` picks the identities trained
on) and a ``metric`` section: the loss, its scale and margin, the embedding head and the
P x K identity batches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..errors import ResnetsError
from ..limits import FLAG, TEXT, Limit, check_fields, choice, integer, number
from ..train.config import EngineConfig, OptimConfig
from ..train.sections import DataConfig, ModelConfig

LOSSES = ("arcface", "cosface", "triplet", "supcon", "softmax")
PAIR_LOSSES = ("triplet", "supcon")  # losses of the batch's pairs: they need P x K batches
# The margin of each loss when metric.margin is -1: ArcFace 0.5 rad and CosFace 0.4 as
# insightface's arcface_torch configures them (CombinedMarginLoss 1.0/0.5/0.0 and
# 1.0/0.0/0.4); FaceNet's triplet alpha 0.2 on unit-length embeddings.
DEFAULT_MARGINS = {"arcface": 0.5, "cosface": 0.4, "triplet": 0.2, "supcon": 0.0,
                   "softmax": 0.0}
CLASS_COUNTS = {"digits": 10, "synthetic": 10, "cifar10": 10, "cifar100": 100}


@dataclass(frozen=True)
class MetricSettings:
    loss: str = "arcface"  # arcface | cosface | triplet | supcon | softmax (linear head)
    scale: float = 64.0  # arcface, cosface: s, the logits are s x cosines (insightface: 64)
    margin: float = -1.0  # arcface m (rad), cosface m, triplet alpha; -1 = the loss's usual
    mining: str = "batch_hard"  # triplet: batch_hard | semi_hard (FaceNet)
    temperature: float = 0.1  # supcon: tau of the similarities
    dim: int = 0  # projection to this many dimensions; 0 = the pooled features as they are
    bn_neck: bool = False  # BatchNorm1d on the embedding before it is normalised
    # arcface, cosface: std of the identity weights' entries at initialisation. 1 (as
    # pytorch-metric-learning) gives rows of norm ~sqrt(dim), whose directions SGD turns
    # slowly; insightface's arcface_torch draws them with std 0.01.
    weight_std: float = 1.0
    sampler: str = "auto"  # auto (pk for triplet and supcon, else shuffle) | pk | shuffle
    k: int = 4  # pk: images of each identity in a batch (P = batch_size / k identities)

    KEY: ClassVar[str] = "metric.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "loss": choice(*LOSSES), "scale": number(0, 1000, open_low=True),
        "margin": number(0, 10, also=(-1,)), "mining": choice("batch_hard", "semi_hard"),
        "temperature": number(0, 100, open_low=True), "dim": integer(0, 65536),
        "bn_neck": FLAG, "weight_std": number(0, 100, open_low=True),
        "sampler": choice("auto", "pk", "shuffle"), "k": integer(2, 4096),
    }

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def the_margin(self) -> float:
        """The margin the loss uses."""
        return DEFAULT_MARGINS[self.loss] if self.margin == -1 else self.margin

    @property
    def identity_batches(self) -> bool:
        """Whether batches are P identities x K images."""
        return self.sampler == "pk" or (self.sampler == "auto" and self.loss in PAIR_LOSSES)


@dataclass(frozen=True)
class MetricDataConfig(DataConfig):
    classes: str = ""  # identities trained on: label indices "0-5" or "0,2,7"; "" = all

    LIMITS: ClassVar[dict[str, Limit]] = {**DataConfig.LIMITS, "classes": TEXT}


@dataclass(frozen=True)
class MetricConfig(EngineConfig):
    """Embeddings learnt with a metric loss (``resnets metric train``)."""

    TASK: ClassVar[str] = "metric"

    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.05, weight_decay=5e-4))
    epochs: int = 10  # passes over the training images of the chosen classes
    batch_size: int = 64  # the global batch (pk: P identities x metric.k images)
    channels_last: bool = False  # NHWC images and model (the measured results used NCHW)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: MetricDataConfig = field(default_factory=MetricDataConfig)
    metric: MetricSettings = field(default_factory=MetricSettings)


def parse_classes(text: str, count: int) -> list[int]:
    """The label indices ``data.classes`` names among ``count`` classes ("" = all), sorted."""
    if not text.strip():
        return list(range(count))
    chosen: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise ResnetsError(f"data.classes={text!r}: {part.strip()!r} is not a label index "
                               "or range; write e.g. 0-5 or 0,2,7") from None
        if first > last:
            raise ResnetsError(f"data.classes={text!r}: {part.strip()!r} runs backwards; "
                               "write the lower label first")
        if not 0 <= first <= last < count:
            raise ResnetsError(f"data.classes={text!r}: {part.strip()!r} is outside the "
                               f"{count} classes (0-{count - 1})")
        chosen.update(range(first, last + 1))
    return sorted(chosen)

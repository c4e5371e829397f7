"""FCN and DeepLabV3 from ``torchvision.models.segmentation`` on dilated registry backbones.

FCN (Long et al. 2015, arXiv:1411.4038): a 3x3 convolution head on the last feature map,
upsampled bilinearly to the input. DeepLabV3 (Chen et al. 2017, arXiv:1706.05587): atrous
spatial pyramid pooling on a backbone whose last stages dilate instead of striding, so the
map keeps 1/8 or 1/16 of the input resolution (``output_stride``). Both are torchvision's
classes; the backbone is a registry model (``create_model(name, output_stride=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn
from torchvision.models.segmentation import FCN, DeepLabV3
from torchvision.models.segmentation.deeplabv3 import DeepLabHead
from torchvision.models.segmentation.fcn import FCNHead

from ..errors import ResnetsError
from ..limits import FLAG, TEXT, Limit, check_fields, choice, integer
from ..models.backbone import NORMS, RegistryBackbone, build_body, stage_info
from ..models.registry import check_modality

HEADS = ("fcn", "deeplabv3")


@dataclass(frozen=True)
class SegmenterConfig:
    """Architecture of a segmenter; stored in its checkpoints to rebuild it."""

    head: str = "deeplabv3"  # fcn | deeplabv3
    backbone: str = "resnet50"  # registry model name (`resnets models`)
    output_stride: int = 8  # input pixels per output pixel: 8 or 16; 0 = the backbone's own
    norm: str = "batch"  # backbone norm: batch | frozen (pretrained) | group
    trainable_layers: int = -1  # backbone stages trained, deepest first; -1 = all and the stem
    weights: str = ""  # classification weights file for the backbone; "" = random init
    aux_loss: bool = True  # auxiliary FCN head on the second-to-last stage (loss weight 0.5)

    KEY: ClassVar[str] = "segmenter.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "head": choice(*HEADS), "backbone": TEXT, "output_stride": choice(0, 8, 16),
        "norm": choice(*NORMS), "trainable_layers": integer(0, 16, also=(-1,)),
        "weights": TEXT, "aux_loss": FLAG,
    }

    def __post_init__(self) -> None:
        check_fields(self)
        check_modality("segmenter.backbone", self.backbone, "image", "a segmenter")


def atrous_rates(output_stride: int) -> tuple[int, int, int]:
    """ASPP dilation rates: (6, 12, 18) at stride 16, doubled at stride 8 (Chen et al. 2017)."""
    scale = 16 // output_stride if output_stride in (8, 16) else 1
    return 6 * scale, 12 * scale, 18 * scale


def build_segmenter(cfg: SegmenterConfig, num_classes: int) -> nn.Module:
    """FCN or DeepLabV3 predicting ``num_classes`` classes (background included).

    The model returns ``{"out": logits}`` (and ``"aux"`` in training with ``aux_loss``), each
    N x num_classes x H x W at the input's resolution.
    """
    if num_classes < 2:
        raise ResnetsError(f"segmentation needs at least 2 classes (background and one "
                           f"more), got {num_classes}")
    body = build_body(cfg.backbone, cfg.norm, cfg.trainable_layers,
                      output_stride=cfg.output_stride or None, weights=cfg.weights)
    last = len(stage_info(body)) - 1
    stages = {"aux": last - 1, "out": last} if cfg.aux_loss else {"out": last}
    backbone = RegistryBackbone(body, stages)
    aux = FCNHead(backbone.channels[0], num_classes) if cfg.aux_loss else None
    if cfg.head == "fcn":
        return FCN(backbone, FCNHead(backbone.out_channels, num_classes), aux)
    rates = atrous_rates(cfg.output_stride or body.feature_info[-1]["reduction"])
    return DeepLabV3(backbone, DeepLabHead(backbone.out_channels, num_classes, rates), aux)

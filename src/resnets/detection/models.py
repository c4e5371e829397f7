"""Faster R-CNN and RetinaNet from ``torchvision.models.detection`` on registry backbones.

Faster R-CNN (Ren et al. 2015, arXiv:1506.01497) with an FPN (Lin et al. 2017): a region
proposal network scores anchors on P2-P6, RoIAlign pools the proposals and a two-layer MLP
classifies and refines them. RetinaNet (Lin et al. 2017, arXiv:1708.02002): one dense stage
with the focal loss on P3-P7. Both are torchvision's own classes; only the backbone is ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn
from torchvision.models.detection import FasterRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7

from ..errors import ResnetsError
from ..limits import FRACTION, SIDE_MAX, TEXT, Limit, check_fields, choice, integer
from ..models.backbone import NORMS, FPNBackbone, build_body, stage_info
from ..models.registry import check_modality

ARCHS = ("fasterrcnn", "retinanet")


@dataclass(frozen=True)
class DetectorConfig:
    """Architecture of a detector; stored in its checkpoints to rebuild it."""

    arch: str = "fasterrcnn"  # fasterrcnn | retinanet
    backbone: str = "resnet50"  # registry model name (`resnets models`)
    norm: str = "frozen"  # backbone norm: frozen (pretrained) | batch | group (from scratch)
    trainable_layers: int = 3  # backbone stages trained, deepest first; stages + 1 = stem too
    weights: str = ""  # classification weights file for the backbone; "" = random init
    fpn_channels: int = 256  # channels of every pyramid level
    min_size: int = 800  # images are resized so their short side is this, pixels
    max_size: int = 1333  # ... and their long side at most this, pixels
    anchor_size: int = 32  # anchor side on the finest pyramid level, pixels; x2 per level
    box_head_size: int = 1024  # Faster R-CNN: width of the two-layer box MLP, features
    rois_per_image: int = 512  # Faster R-CNN: proposals sampled per image to train the head
    score_threshold: float = 0.05  # detections below this score are dropped, probability

    KEY: ClassVar[str] = "detector.{name}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "arch": choice(*ARCHS), "backbone": TEXT, "norm": choice(*NORMS),
        "trainable_layers": integer(0, 16), "weights": TEXT, "fpn_channels": integer(1, 4096),
        "min_size": integer(1, SIDE_MAX), "max_size": integer(1, SIDE_MAX),
        "anchor_size": integer(1, 1024), "box_head_size": integer(1, 16384),
        "rois_per_image": integer(1, 100_000), "score_threshold": FRACTION,
    }

    def __post_init__(self) -> None:
        check_fields(self)
        check_modality("detector.backbone", self.backbone, "image", "a detector")
        if self.min_size > self.max_size:
            raise ResnetsError(f"detector.min_size {self.min_size} exceeds detector.max_size "
                               f"{self.max_size}; lower min_size or raise max_size")


def build_detector(cfg: DetectorConfig, num_classes: int) -> nn.Module:
    """A detector for ``num_classes`` object classes (torchvision adds the background)."""
    if num_classes < 1:
        raise ResnetsError(f"a detector needs at least one class, got {num_classes}")
    body = build_body(cfg.backbone, cfg.norm, cfg.trainable_layers, weights=cfg.weights)
    stages = len(stage_info(body))
    if stages < 3:
        raise ResnetsError(f"{cfg.backbone} has {stages} stages; an FPN needs at least 3, "
                           "e.g. resnet18 or resnet50")
    common = dict(min_size=cfg.min_size, max_size=cfg.max_size,
                  score_thresh=cfg.score_threshold)
    if cfg.arch == "fasterrcnn":  # C2..C5 -> P2..P5, max-pooled P6 for the RPN
        backbone = FPNBackbone(body, max(stages - 4, 0), cfg.fpn_channels, LastLevelMaxPool())
        levels = len(backbone.features.channels) + 1
        anchors = AnchorGenerator(tuple((cfg.anchor_size * 2 ** i,) for i in range(levels)),
                                  ((0.5, 1.0, 2.0),) * levels)
        resolution = 7  # RoIAlign output side, as torchvision's
        return FasterRCNN(
            backbone, None, rpn_anchor_generator=anchors,
            box_head=TwoMLPHead(cfg.fpn_channels * resolution ** 2, cfg.box_head_size),
            box_predictor=FastRCNNPredictor(cfg.box_head_size, num_classes + 1),
            box_batch_size_per_image=cfg.rois_per_image, **common)
    # RetinaNet: C3..C5 -> P3..P5, P6 and P7 from P5 (torchvision's v1 setting)
    backbone = FPNBackbone(body, max(stages - 3, 0), cfg.fpn_channels,
                           LastLevelP6P7(cfg.fpn_channels, cfg.fpn_channels))
    levels = len(backbone.features.channels) + 2
    anchors = AnchorGenerator(
        tuple(tuple(cfg.anchor_size * 2 ** i * 2 ** (k / 3) for k in range(3))
              for i in range(levels)), ((0.5, 1.0, 2.0),) * levels)
    return RetinaNet(backbone, num_classes + 1, anchor_generator=anchors, **common)

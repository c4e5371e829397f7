"""Object detection on registry backbones: Faster R-CNN and RetinaNet, COCO data and mAP."""

from . import recipes  # noqa: F401 (registers the recipes of `resnets detect train`)
from . import task  # noqa: F401 (registers the task those recipes configure)

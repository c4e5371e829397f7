"""Semantic segmentation on dilated registry backbones: FCN and DeepLabV3 heads, mIoU."""

from . import recipes  # noqa: F401 (registers the recipes of `resnets segment train`)
from . import task  # noqa: F401 (registers the task those recipes configure)

"""ResNeXt (Xie, Girshick, Dollar, Tu & He 2017, "Aggregated Residual Transformations for Deep
Neural Networks", CVPR, arXiv:1611.05431): bottlenecks whose 3x3 convolution is split into
``groups`` paths ("cardinality") of ``base_width`` channels each (Fig. 3c), the rest of the
network as ResNet's. ``resnext50_32x4d`` is 32 paths of 4 channels in the first stage.

Names and shapes follow torchvision's ``resnext*`` (``width_per_group`` is ``base_width``).
"""

from __future__ import annotations

from .blocks import BottleneckBlock
from .registry import register_model
from .resnet import IMAGENET_LAYERS, ResNet, build_imagenet

RESNEXT_PAPER = ("Xie et al. 2017, Aggregated Residual Transformations for Deep Neural "
                 "Networks (arXiv:1611.05431)")


_IMAGENET = dict(family="resnext", input_size=224, num_classes=1000, reference=RESNEXT_PAPER)


@register_model(published_params="25.0M", **_IMAGENET)
def resnext50_32x4d(**options) -> ResNet:
    """ResNeXt-50 (32x4d) for ImageNet: 32 paths of 4 channels (Xie et al. 2017, Table 1)."""
    return build_imagenet("resnext50_32x4d", BottleneckBlock, IMAGENET_LAYERS[50], options,
                          groups=32, base_width=4)


@register_model(**_IMAGENET)
def resnext101_32x8d(**options) -> ResNet:
    """ResNeXt-101 (32x8d) for ImageNet, torchvision's (the paper trains 101 layers at 32x4d)."""
    return build_imagenet("resnext101_32x8d", BottleneckBlock, IMAGENET_LAYERS[101], options,
                          groups=32, base_width=8)

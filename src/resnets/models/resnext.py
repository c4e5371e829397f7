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


def _resnext(depth: int, groups: int, base_width: int, published: str | None) -> None:
    name = f"resnext{depth}_{groups}x{base_width}d"

    def builder(**options) -> ResNet:
        return build_imagenet(name, BottleneckBlock, IMAGENET_LAYERS[depth], options,
                              groups=groups, base_width=base_width)

    builder.__name__ = name
    builder.__doc__ = (f"ResNeXt-{depth} ({groups}x{base_width}d) for ImageNet, "
                       f"torchvision's ({RESNEXT_PAPER}).")
    register_model(family="resnext", input_size=224, num_classes=1000,
                   reference=RESNEXT_PAPER, published_params=published)(builder)


_resnext(50, 32, 4, "25.0M")  # Table 1 of the paper
_resnext(101, 32, 8, None)  # torchvision's; the paper trains 101-layer nets at 32x4d

"""Squeeze-and-excitation ResNets and ResNeXts (Hu, Shen, Albanie, Sun & Wu 2018, "Squeeze-
and-Excitation Networks", CVPR, arXiv:1709.01507).

Each residual branch ends with an SE gate (:class:`~resnets.models.layers.SqueezeExcite`,
reduction ratio 16), which rescales F(x) channel by channel before the addition (the paper's
SE-ResNet module, Fig. 3). Any ResNet or ResNeXt takes the same gate with ``attn_layer="se"``;
these names fix it. The gate's two fully connected layers have biases, as in timm's
``seresnet*``: SE-ResNet-50 then has 28,088,024 parameters; without the biases it would have
28,071,976; both print as the paper's 28.1M.
"""

from __future__ import annotations

from .blocks import BasicBlock, BottleneckBlock
from .registry import register_model
from .resnet import IMAGENET_LAYERS, ResNet, build_imagenet

SE_PAPER = "Hu et al. 2018, Squeeze-and-Excitation Networks (arXiv:1709.01507)"


_IMAGENET = dict(family="senet", input_size=224, num_classes=1000, reference=SE_PAPER)


def _se_resnet(name: str, depth: int, options: dict, groups: int = 1,
               base_width: int = 64) -> ResNet:
    block = BasicBlock if depth < 50 else BottleneckBlock
    return build_imagenet(name, block, IMAGENET_LAYERS[depth], options, attn_layer="se",
                          groups=groups, base_width=base_width)


@register_model(**_IMAGENET)
def se_resnet18(**options) -> ResNet:
    """SE-ResNet-18 for ImageNet: every residual branch gated by SE (Hu et al. 2018)."""
    return _se_resnet("se_resnet18", 18, options)


@register_model(**_IMAGENET)
def se_resnet34(**options) -> ResNet:
    """SE-ResNet-34 for ImageNet: every residual branch gated by SE (Hu et al. 2018)."""
    return _se_resnet("se_resnet34", 34, options)


@register_model(published_params="28.1M", **_IMAGENET)
def se_resnet50(**options) -> ResNet:
    """SE-ResNet-50 for ImageNet: every residual branch gated by SE (Hu et al. 2018)."""
    return _se_resnet("se_resnet50", 50, options)


@register_model(**_IMAGENET)
def se_resnet101(**options) -> ResNet:
    """SE-ResNet-101 for ImageNet: every residual branch gated by SE (Hu et al. 2018)."""
    return _se_resnet("se_resnet101", 101, options)


@register_model(**_IMAGENET)
def se_resnet152(**options) -> ResNet:
    """SE-ResNet-152 for ImageNet: every residual branch gated by SE (Hu et al. 2018)."""
    return _se_resnet("se_resnet152", 152, options)


@register_model(**_IMAGENET)
def se_resnext50_32x4d(**options) -> ResNet:
    """SE-ResNeXt-50 (32x4d) for ImageNet: ResNeXt-50 with SE gates (Hu et al. 2018)."""
    return _se_resnet("se_resnext50_32x4d", 50, options, groups=32, base_width=4)

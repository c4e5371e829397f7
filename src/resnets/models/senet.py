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


def _se_resnet(name: str, depth: int, published: str | None, groups: int = 1,
               base_width: int = 64) -> None:
    block = BasicBlock if depth < 50 else BottleneckBlock

    def builder(**options) -> ResNet:
        return build_imagenet(name, block, IMAGENET_LAYERS[depth], options, attn_layer="se",
                              groups=groups, base_width=base_width)

    builder.__name__ = name
    builder.__doc__ = f"{name} for ImageNet: every residual branch gated by SE ({SE_PAPER})."
    register_model(family="senet", input_size=224, num_classes=1000, reference=SE_PAPER,
                   published_params=published)(builder)


_se_resnet("se_resnet18", 18, None)
_se_resnet("se_resnet34", 34, None)
_se_resnet("se_resnet50", 50, "28.1M")
_se_resnet("se_resnet101", 101, None)
_se_resnet("se_resnet152", 152, None)
_se_resnet("se_resnext50_32x4d", 50, None, groups=32, base_width=4)

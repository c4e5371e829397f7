"""Wide residual networks (Zagoruyko & Komodakis 2016, "Wide Residual Networks", BMVC,
arXiv:1605.07146): fewer, wider layers.

CIFAR: WRN-d-k is a pre-activation ResNet of basic blocks B(3,3) whose three stages are k times
wider than He et al.'s (16k, 32k, 64k channels after a 16-channel 3x3 stem), with depth
d = 6n+4: n blocks per stage, and for k > 1 exactly d convolutions (the stem, 6n in the
blocks and the three 1x1 projection shortcuts that widen the stages). Dropout sits between
the two convolutions of each block (Sec. 2.4); the paper trains on CIFAR with dropout 0.3,
which is these builders' default (``block_dropout=0`` for the rows without dropout).

ImageNet: torchvision's ``wide_resnet50_2`` and ``wide_resnet101_2`` are bottleneck ResNets
whose 3x3 convolutions are twice as wide (``base_width=128``); the blocks' outputs keep
ResNet's widths, so only the inner layers grow.
"""

from __future__ import annotations

from torch import nn

from ..errors import ResnetsError
from .blocks import BottleneckBlock, PreActBasicBlock
from .registry import build, register_model
from .resnet import IMAGENET_LAYERS, ResNet, build_imagenet, cifar_depth_to_blocks

WRN_PAPER = "Zagoruyko & Komodakis 2016, Wide Residual Networks (arXiv:1605.07146)"
CIFAR_DROPOUT = 0.3  # Sec. 3: "dropout ... 0.3 for CIFAR"


def build_cifar_wrn(name: str, depth: int, widen_factor: int, options: dict,
                    extra: tuple[str, ...] = ()) -> nn.Module:
    """WRN-``depth``-``widen_factor`` for 32x32 images (Table 1 of the paper)."""
    n = cifar_depth_to_blocks(depth, PreActBasicBlock, offset=4)
    if not isinstance(widen_factor, int) or isinstance(widen_factor, bool) or widen_factor < 1:
        raise ResnetsError(f"widen_factor must be an integer >= 1 (k of WRN-d-k), "
                           f"got {widen_factor!r}")
    k = widen_factor
    fixed = dict(block=PreActBasicBlock, layers=(n, n, n), widths=(16 * k, 32 * k, 64 * k),
                 stem="cifar", stem_width=16)
    options.setdefault("shortcut", "B")
    options.setdefault("block_dropout", CIFAR_DROPOUT)
    return build(ResNet, fixed, options, name, extra=extra)


_CIFAR = dict(family="wrn", input_size=32, num_classes=10, reference=WRN_PAPER)
_IMAGENET = dict(family="wrn", input_size=224, num_classes=1000, reference=WRN_PAPER)


# The CIFAR networks of the paper's comparison with the state of the art, with its counts.
@register_model(published_params="11.0M", **_CIFAR)
def wrn_16_8(**options) -> nn.Module:
    """WRN-16-8 for CIFAR, dropout 0.3 in every block (Zagoruyko & Komodakis 2016)."""
    return build_cifar_wrn("wrn_16_8", 16, 8, options)


@register_model(published_params="36.5M", **_CIFAR)
def wrn_28_10(**options) -> nn.Module:
    """WRN-28-10 for CIFAR, dropout 0.3 in every block (Zagoruyko & Komodakis 2016)."""
    return build_cifar_wrn("wrn_28_10", 28, 10, options)


@register_model(published_params="8.9M", **_CIFAR)
def wrn_40_4(**options) -> nn.Module:
    """WRN-40-4 for CIFAR, dropout 0.3 in every block (Zagoruyko & Komodakis 2016)."""
    return build_cifar_wrn("wrn_40_4", 40, 4, options)


@register_model(**_CIFAR)
def cifar_wrn(depth: int = 28, widen_factor: int = 10, **options) -> nn.Module:
    """WRN-d-k for CIFAR of any depth 6n+4 and widening factor k (dropout 0.3 by default)."""
    return build_cifar_wrn("cifar_wrn", depth, widen_factor, options,
                           extra=("depth", "widen_factor"))


@register_model(published_params="68.9M", **_IMAGENET)
def wide_resnet50_2(**options) -> nn.Module:
    """WRN-50-2: ResNet-50 with bottlenecks twice as wide inside (Zagoruyko & Komodakis 2016)."""
    return build_imagenet("wide_resnet50_2", BottleneckBlock, IMAGENET_LAYERS[50], options,
                          base_width=128)


@register_model(**_IMAGENET)
def wide_resnet101_2(**options) -> nn.Module:
    """Wide ResNet-101-2: ResNet-101, bottlenecks twice as wide inside (torchvision's)."""
    return build_imagenet("wide_resnet101_2", BottleneckBlock, IMAGENET_LAYERS[101], options,
                          base_width=128)

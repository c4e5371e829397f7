"""Pre-activation ResNets (He, Zhang, Ren & Sun 2016, "Identity Mappings in Deep Residual
Networks", arXiv:1603.05027): BN and ReLU move before each convolution, so the shortcut path
is a clean identity from the input to the last block.

CIFAR: ResNet-110 (basic blocks, 6n+2), ResNet-164 and ResNet-1001 (bottlenecks, 9n+2), widths
16/32/64 with projection shortcuts where the shape changes. ImageNet: 18 to 200 layers.
"""

from __future__ import annotations

from .blocks import PreActBasicBlock, PreActBottleneckBlock
from .registry import register_model
from .resnet import IMAGENET_LAYERS, ResNet, build_cifar, build_imagenet

PREACT_PAPER = ("He et al. 2016, Identity Mappings in Deep Residual Networks "
                "(arXiv:1603.05027)")
PREACT_IMAGENET_LAYERS = {**IMAGENET_LAYERS, 200: (3, 24, 36, 3)}


_CIFAR = dict(family="preact", input_size=32, num_classes=10, reference=PREACT_PAPER)
_IMAGENET = dict(family="preact", input_size=224, num_classes=1000, reference=PREACT_PAPER)


@register_model(published_params="1.7M", **_CIFAR)
def preact_resnet110(**options) -> ResNet:
    """Pre-activation ResNet-110 for CIFAR, basic blocks (He et al. 2016, Table 2)."""
    return build_cifar("preact_resnet110", 110, PreActBasicBlock, "B", options)


@register_model(published_params="1.7M", **_CIFAR)
def preact_resnet164(**options) -> ResNet:
    """Pre-activation ResNet-164 for CIFAR, bottlenecks (He et al. 2016, Table 2)."""
    return build_cifar("preact_resnet164", 164, PreActBottleneckBlock, "B", options)


@register_model(published_params="10.2M", **_CIFAR)
def preact_resnet1001(**options) -> ResNet:
    """Pre-activation ResNet-1001 for CIFAR, bottlenecks (He et al. 2016, Table 2)."""
    return build_cifar("preact_resnet1001", 1001, PreActBottleneckBlock, "B", options)


def _imagenet_preact(name: str, depth: int, options: dict) -> ResNet:
    block = PreActBasicBlock if depth < 50 else PreActBottleneckBlock
    return build_imagenet(name, block, PREACT_IMAGENET_LAYERS[depth], options)


@register_model(**_IMAGENET)
def preact_resnet18(**options) -> ResNet:
    """Pre-activation ResNet-18 for ImageNet: basic blocks 2-2-2-2 (He et al. 2016)."""
    return _imagenet_preact("preact_resnet18", 18, options)


@register_model(**_IMAGENET)
def preact_resnet34(**options) -> ResNet:
    """Pre-activation ResNet-34 for ImageNet: basic blocks 3-4-6-3 (He et al. 2016)."""
    return _imagenet_preact("preact_resnet34", 34, options)


@register_model(**_IMAGENET)
def preact_resnet50(**options) -> ResNet:
    """Pre-activation ResNet-50 for ImageNet: bottlenecks 3-4-6-3 (He et al. 2016)."""
    return _imagenet_preact("preact_resnet50", 50, options)


@register_model(**_IMAGENET)
def preact_resnet101(**options) -> ResNet:
    """Pre-activation ResNet-101 for ImageNet: bottlenecks 3-4-23-3 (He et al. 2016)."""
    return _imagenet_preact("preact_resnet101", 101, options)


@register_model(**_IMAGENET)
def preact_resnet152(**options) -> ResNet:
    """Pre-activation ResNet-152 for ImageNet: bottlenecks 3-8-36-3 (He et al. 2016)."""
    return _imagenet_preact("preact_resnet152", 152, options)


@register_model(**_IMAGENET)
def preact_resnet200(**options) -> ResNet:
    """Pre-activation ResNet-200 for ImageNet: bottlenecks 3-24-36-3 (He et al. 2016)."""
    return _imagenet_preact("preact_resnet200", 200, options)


@register_model(**_CIFAR)
def cifar_preact_resnet(depth: int = 164, bottleneck: bool = True, **options) -> ResNet:
    """A pre-activation CIFAR ResNet of any depth: 9n+2 with bottlenecks, else 6n+2."""
    block = PreActBottleneckBlock if bottleneck else PreActBasicBlock
    return build_cifar("cifar_preact_resnet", depth, block, "B", options,
                       extra=("depth", "bottleneck"))

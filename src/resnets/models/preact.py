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


def _cifar_preact(depth: int, block: type, published: str) -> None:
    def builder(**options) -> ResNet:
        return build_cifar(f"preact_resnet{depth}", depth, block, "B", options)

    builder.__name__ = f"preact_resnet{depth}"
    builder.__doc__ = f"Pre-activation ResNet-{depth} for CIFAR ({PREACT_PAPER}, Table 2)."
    register_model(family="preact", input_size=32, num_classes=10, reference=PREACT_PAPER,
                   published_params=published)(builder)


def _imagenet_preact(depth: int, published: str | None) -> None:
    block = PreActBasicBlock if depth < 50 else PreActBottleneckBlock

    def builder(**options) -> ResNet:
        return build_imagenet(f"preact_resnet{depth}", block, PREACT_IMAGENET_LAYERS[depth],
                              options)

    builder.__name__ = f"preact_resnet{depth}"
    builder.__doc__ = f"Pre-activation ResNet-{depth} for ImageNet ({PREACT_PAPER})."
    register_model(family="preact", input_size=224, num_classes=1000, reference=PREACT_PAPER,
                   published_params=published)(builder)


_cifar_preact(110, PreActBasicBlock, "1.7M")
_cifar_preact(164, PreActBottleneckBlock, "1.7M")
_cifar_preact(1001, PreActBottleneckBlock, "10.2M")
for _depth in (18, 34, 50, 101, 152, 200):
    _imagenet_preact(_depth, None)


@register_model(family="preact", input_size=32, num_classes=10, reference=PREACT_PAPER)
def cifar_preact_resnet(depth: int = 164, bottleneck: bool = True, **options) -> ResNet:
    """A pre-activation CIFAR ResNet of any depth: 9n+2 with bottlenecks, else 6n+2."""
    block = PreActBottleneckBlock if bottleneck else PreActBasicBlock
    return build_cifar("cifar_preact_resnet", depth, block, "B", options,
                       extra=("depth", "bottleneck"))

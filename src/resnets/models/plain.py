"""Plain networks: the ResNets' exact layers without shortcuts (He et al. 2015, Fig. 3 middle).

They exist to show the degradation problem: deeper plain nets train to a higher error. With
option A a CIFAR ResNet has no shortcut parameters, so each plain net here has exactly as
many parameters as the ResNet of the same depth.
"""

from __future__ import annotations

from .blocks import BasicBlock
from .registry import register_model
from .resnet import IMAGENET_LAYERS, PAPER, ResNet, build_cifar, build_imagenet


def _imagenet_plain(depth: int) -> None:
    def builder(**options) -> ResNet:
        options.setdefault("shortcut", "none")
        return build_imagenet(f"plain{depth}", BasicBlock, IMAGENET_LAYERS[depth], options)

    builder.__name__ = f"plain{depth}"
    builder.__doc__ = f"The {depth}-layer plain network of {PAPER}, Fig. 3."
    register_model(family="plain", input_size=224, num_classes=1000, reference=PAPER)(builder)


def _cifar_plain(depth: int) -> None:
    def builder(**options) -> ResNet:
        return build_cifar(f"plain{depth}", depth, BasicBlock, "none", options)

    builder.__name__ = f"plain{depth}"
    builder.__doc__ = f"The {depth}-layer plain CIFAR network of {PAPER}, Sec. 4.2."
    register_model(family="plain", input_size=32, num_classes=10, reference=PAPER)(builder)


for _depth in (18, 34):
    _imagenet_plain(_depth)
for _depth in (20, 32, 44, 56, 110):
    _cifar_plain(_depth)


@register_model(family="plain", input_size=32, num_classes=10, reference=PAPER)
def cifar_plain(depth: int = 20, **options) -> ResNet:
    """A plain CIFAR network of any depth 6n+2."""
    return build_cifar("cifar_plain", depth, BasicBlock, "none", options, extra=("depth",))

"""Plain networks: the ResNets' exact layers without shortcuts (He et al. 2015, Fig. 3 middle).

They exist to show the degradation problem: deeper plain nets train to a higher error. With
option A a CIFAR ResNet has no shortcut parameters, so each plain net here has exactly as
many parameters as the ResNet of the same depth.
"""

from __future__ import annotations

from .blocks import BasicBlock
from .registry import register_model
from .resnet import IMAGENET_LAYERS, PAPER, ResNet, build_cifar, build_imagenet


_IMAGENET = dict(family="plain", input_size=224, num_classes=1000, reference=PAPER)
_CIFAR = dict(family="plain", input_size=32, num_classes=10, reference=PAPER)


def _imagenet_plain(name: str, depth: int, options: dict) -> ResNet:
    options.setdefault("shortcut", "none")
    return build_imagenet(name, BasicBlock, IMAGENET_LAYERS[depth], options)


@register_model(**_IMAGENET)
def plain18(**options) -> ResNet:
    """The 18-layer plain network: ResNet-18 without shortcuts (He et al. 2015, Fig. 3)."""
    return _imagenet_plain("plain18", 18, options)


@register_model(**_IMAGENET)
def plain34(**options) -> ResNet:
    """The 34-layer plain network: ResNet-34 without shortcuts (He et al. 2015, Fig. 3)."""
    return _imagenet_plain("plain34", 34, options)


@register_model(**_CIFAR)
def plain20(**options) -> ResNet:
    """The 20-layer plain CIFAR network, n=3 (He et al. 2015, Sec. 4.2)."""
    return build_cifar("plain20", 20, BasicBlock, "none", options)


@register_model(**_CIFAR)
def plain32(**options) -> ResNet:
    """The 32-layer plain CIFAR network, n=5 (He et al. 2015, Sec. 4.2)."""
    return build_cifar("plain32", 32, BasicBlock, "none", options)


@register_model(**_CIFAR)
def plain44(**options) -> ResNet:
    """The 44-layer plain CIFAR network, n=7 (He et al. 2015, Sec. 4.2)."""
    return build_cifar("plain44", 44, BasicBlock, "none", options)


@register_model(**_CIFAR)
def plain56(**options) -> ResNet:
    """The 56-layer plain CIFAR network, n=9 (He et al. 2015, Sec. 4.2)."""
    return build_cifar("plain56", 56, BasicBlock, "none", options)


@register_model(**_CIFAR)
def plain110(**options) -> ResNet:
    """The 110-layer plain CIFAR network, n=18 (He et al. 2015, Sec. 4.2)."""
    return build_cifar("plain110", 110, BasicBlock, "none", options)


@register_model(**_CIFAR)
def cifar_plain(depth: int = 20, **options) -> ResNet:
    """A plain CIFAR network of any depth 6n+2."""
    return build_cifar("cifar_plain", depth, BasicBlock, "none", options, extra=("depth",))

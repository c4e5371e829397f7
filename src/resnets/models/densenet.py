"""Densely connected networks (Huang, Liu, van der Maaten & Weinberger 2017, "Densely Connected
Convolutional Networks", CVPR, arXiv:1608.06993).

Each layer of a dense block reads the concatenation of all earlier feature maps of the block
and adds ``growth_rate`` new channels. The "BC" variant (used here throughout) has a 1x1
bottleneck of ``bn_size * growth_rate`` channels before each 3x3 convolution, and transitions
that compress the channels by ``compression`` (0.5) before halving the resolution.

ImageNet: torchvision's ``densenet121/169/201/161``, with its parameter names
(``features.conv0``, ``features.denseblock1.denselayer1.norm1``, ..., ``classifier``).
CIFAR: DenseNet-BC-L-k with three dense blocks of (L-4)/6 layers after a 3x3 convolution of
2k channels (Sec. 3 and Table 2 of the paper).

``memory_efficient=True`` recomputes each layer's concatenation, BN, ReLU and 1x1 convolution
in the backward pass instead of storing them: their outputs grow quadratically with the
number of layers, so this is where the memory goes (Pleiss et al. 2017, arXiv:1707.06990).
"""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict
from functools import partial
from typing import Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import ResnetsError
from .base import ClassifierModel, frozen_running_stats
from .blocks import LayerFactory
from .features import FeatureStep
from .layers import check_probability
from .registry import build, register_model

DENSENET_PAPER = ("Huang et al. 2017, Densely Connected Convolutional Networks "
                  "(arXiv:1608.06993)")
STEMS = ("imagenet", "cifar")


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (bottleneck) then BN-ReLU-conv3x3, giving ``growth_rate`` channels."""

    def __init__(self, in_chs: int, growth_rate: int, bn_size: int, block_dropout: float,
                 memory_efficient: bool, norm_layer: LayerFactory,
                 act_layer: LayerFactory) -> None:
        super().__init__()
        width = bn_size * growth_rate
        self.norm1 = norm_layer(in_chs)
        self.relu1 = act_layer(inplace=True)
        self.conv1 = nn.Conv2d(in_chs, width, 1, bias=False)
        self.norm2 = norm_layer(width)
        self.relu2 = act_layer(inplace=True)
        self.conv2 = nn.Conv2d(width, growth_rate, 3, padding=1, bias=False)
        self.block_dropout = block_dropout
        self.memory_efficient = memory_efficient

    def bottleneck(self, *features: torch.Tensor) -> torch.Tensor:
        """conv1x1(ReLU(BN(concatenation of the earlier feature maps)))."""
        return self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        if self.memory_efficient and self.training and torch.is_grad_enabled():
            # The recomputation must not update norm1's running statistics a second time.
            out = checkpoint(self.bottleneck, *features, use_reentrant=False,
                             context_fn=lambda: (contextlib.nullcontext(),
                                                 frozen_running_stats(self.norm1)))
        else:
            out = self.bottleneck(*features)
        out = self.conv2(self.relu2(self.norm2(out)))
        if self.block_dropout:
            out = nn.functional.dropout(out, self.block_dropout, self.training)
        return out


class DenseBlock(nn.Module):
    """``num_layers`` dense layers; the output concatenates the input and every new map."""

    def __init__(self, num_layers: int, in_chs: int, growth_rate: int, **layer_kwargs) -> None:
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}",
                            DenseLayer(in_chs + i * growth_rate, growth_rate, **layer_kwargs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.children():
            features.append(layer(features))
        return torch.cat(features, 1)


def transition(in_chs: int, out_chs: int, norm_layer: LayerFactory,
               act_layer: LayerFactory) -> nn.Sequential:
    """BN-ReLU-conv1x1 to ``out_chs`` channels, then 2x2 average pooling."""
    return nn.Sequential(OrderedDict([
        ("norm", norm_layer(in_chs)), ("relu", act_layer(inplace=True)),
        ("conv", nn.Conv2d(in_chs, out_chs, 1, bias=False)),
        ("pool", nn.AvgPool2d(2, stride=2)),
    ]))


class DenseNet(ClassifierModel):
    """A DenseNet-BC: stem, dense blocks joined by compressing transitions, BN-ReLU, pool, linear.

    Args:
        growth_rate: channels each dense layer adds (k).
        block_config: dense layers per block, e.g. ``(6, 12, 24, 16)`` for DenseNet-121.
        num_init_features: channels of the stem convolution.
        bn_size: the bottleneck has ``bn_size * growth_rate`` channels.
        compression: a transition keeps ``floor(compression * channels)`` channels (theta).
        stem: "imagenet" (7x7/2 convolution, BN, ReLU, 3x3/2 max pool) or "cifar" (one 3x3
            convolution; the first dense layer normalises its output).
        block_dropout: dropout after each dense layer's 3x3 convolution (the paper's
            dropout 0.2 without data augmentation; torchvision's ``drop_rate``).
        drop_rate: dropout before the classifier.
        memory_efficient: recompute the bottlenecks in the backward pass (same outputs and
            gradients, far less memory).
        grad_checkpointing: recompute whole dense blocks in the backward pass.

    There is no ``zero_init_residual``: a DenseNet has no residual branch to start as the
    identity.
    """

    head_name = "classifier"

    def __init__(self, growth_rate: int = 32, block_config: Sequence[int] = (6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4, compression: float = 0.5,
                 num_classes: int = 1000, in_chans: int = 3, stem: str = "imagenet",
                 block_dropout: float = 0.0, drop_rate: float = 0.0,
                 memory_efficient: bool = False, norm_layer: LayerFactory = nn.BatchNorm2d,
                 act_layer: LayerFactory = nn.ReLU, grad_checkpointing: bool = False) -> None:
        super().__init__()
        if stem not in STEMS:
            raise ResnetsError(f"unknown stem {stem!r}; use one of {STEMS}")
        if in_chans < 1:
            raise ResnetsError(f"in_chans must be >= 1, got {in_chans}")
        if not 0.0 < compression <= 1.0:
            raise ResnetsError(f"compression must be in (0, 1] (the paper's theta), "
                               f"got {compression}")
        if growth_rate < 1 or bn_size < 1 or not block_config or min(block_config) < 1:
            raise ResnetsError(f"growth_rate, bn_size and every entry of block_config must "
                               f"be >= 1, got {growth_rate}, {bn_size}, {tuple(block_config)}")
        check_probability("block_dropout", block_dropout)
        self.in_chans = in_chans
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if stem == "imagenet":
            layers["conv0"] = nn.Conv2d(in_chans, num_init_features, 7, stride=2, padding=3,
                                        bias=False)
            layers["norm0"] = norm_layer(num_init_features)
            layers["relu0"] = act_layer(inplace=True)
            layers["pool0"] = nn.MaxPool2d(3, stride=2, padding=1)
            reduction = 4
        else:
            layers["conv0"] = nn.Conv2d(in_chans, num_init_features, 3, padding=1, bias=False)
            reduction = 1
        self.stem_names = [name for name in layers if name != "pool0"]
        self.block_names = [f"denseblock{i + 1}" for i in range(len(block_config))]
        # The stem's point is before its pool, as timm's DenseNet (features.norm0 there).
        self.feature_info = [dict(num_chs=num_init_features,
                                  reduction=2 if stem == "imagenet" else 1,
                                  module=f"features.{self.stem_names[-1]}")]
        chs = num_init_features
        for i, (name, num_layers) in enumerate(zip(self.block_names, block_config)):
            layers[name] = DenseBlock(num_layers, chs, growth_rate, bn_size=bn_size,
                                      block_dropout=block_dropout,
                                      memory_efficient=memory_efficient,
                                      norm_layer=norm_layer, act_layer=act_layer)
            chs += num_layers * growth_rate
            last = i == len(block_config) - 1
            self.feature_info.append(dict(num_chs=chs, reduction=reduction,
                                          module="features.norm5" if last
                                          else f"features.{name}"))
            if not last:
                out_chs = math.floor(chs * compression)
                layers[f"transition{i + 1}"] = transition(chs, out_chs, norm_layer, act_layer)
                chs, reduction = out_chs, reduction * 2
        layers["norm5"] = norm_layer(chs)  # torchvision's name, whatever the block count
        self.features = nn.Sequential(layers)
        self.act = act_layer(inplace=True)
        self._init_head(chs, num_classes, drop_rate)
        self._init_weights()
        self.set_grad_checkpointing(grad_checkpointing)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def feature_steps(self) -> list[FeatureStep]:
        """The stem to its activation, then each dense block with the pool or transition that
        leads to it; the last block's step ends with the final BN-ReLU."""
        steps = [self._step(self.stem_names)]
        for i, block in enumerate(self.block_names):
            lead = f"transition{i}" if i else "pool0"
            names = ([lead] if lead in self.features._modules else []) + [block]
            steps.append(self._step(names + ["norm5"] if block == self.block_names[-1]
                                    else names))
        return steps

    def _step(self, names: list[str]) -> FeatureStep:
        modules = tuple(f"features.{name}" for name in names)
        return FeatureStep(modules + (("act",) if names[-1] == "norm5" else ()),
                           partial(self._run_features, names))

    def _run_features(self, names: list[str], x: torch.Tensor) -> torch.Tensor:
        for name in names:
            layer = getattr(self.features, name)
            x = self.run_stage(layer, x) if name.startswith("denseblock") else layer(x)
        return self.act(x) if names[-1] == "norm5" else x


IMAGENET_CONFIGS = {  # growth rate, layers per block, stem channels (Table 1 of the paper)
    121: (32, (6, 12, 24, 16), 64),
    169: (32, (6, 12, 32, 32), 64),
    201: (32, (6, 12, 48, 32), 64),
    161: (48, (6, 12, 36, 24), 96),
}


_IMAGENET = dict(family="densenet", input_size=224, num_classes=1000, reference=DENSENET_PAPER)
_CIFAR = dict(family="densenet", input_size=32, num_classes=10, reference=DENSENET_PAPER)


def _imagenet_densenet(name: str, depth: int, options: dict) -> DenseNet:
    growth, config, stem_chs = IMAGENET_CONFIGS[depth]
    fixed = dict(growth_rate=growth, block_config=config, num_init_features=stem_chs)
    return build(DenseNet, fixed, options, name)


@register_model(**_IMAGENET)
def densenet121(**options) -> DenseNet:
    """DenseNet-121 for ImageNet, k=32, blocks 6-12-24-16 (Huang et al. 2017, Table 1)."""
    return _imagenet_densenet("densenet121", 121, options)


@register_model(**_IMAGENET)
def densenet169(**options) -> DenseNet:
    """DenseNet-169 for ImageNet, k=32, blocks 6-12-32-32 (Huang et al. 2017, Table 1)."""
    return _imagenet_densenet("densenet169", 169, options)


@register_model(**_IMAGENET)
def densenet201(**options) -> DenseNet:
    """DenseNet-201 for ImageNet, k=32, blocks 6-12-48-32 (Huang et al. 2017, Table 1)."""
    return _imagenet_densenet("densenet201", 201, options)


@register_model(**_IMAGENET)
def densenet161(**options) -> DenseNet:
    """DenseNet-161 for ImageNet, k=48, blocks 6-12-36-24 (Huang et al. 2017, Table 1)."""
    return _imagenet_densenet("densenet161", 161, options)


def build_cifar_densenet(name: str, depth: int, growth_rate: int, options: dict,
                         extra: tuple[str, ...] = ()) -> DenseNet:
    """DenseNet-BC-``depth``-``growth_rate`` for 32x32 images: depth = 6n+4."""
    if (not isinstance(depth, int) or isinstance(depth, bool) or depth < 10
            or (depth - 4) % 6):
        raise ResnetsError(f"depth {depth} is impossible for a CIFAR DenseNet-BC: it must be "
                           "6n+4 (40, 100, 190, 250, ...)")
    if not isinstance(growth_rate, int) or isinstance(growth_rate, bool) or growth_rate < 1:
        raise ResnetsError(f"growth_rate must be an integer >= 1, got {growth_rate!r}")
    n = (depth - 4) // 6
    fixed = dict(growth_rate=growth_rate, block_config=(n, n, n),
                 num_init_features=2 * growth_rate, stem="cifar")
    return build(DenseNet, fixed, options, name, extra=extra)


@register_model(published_params="0.8M", **_CIFAR)
def densenet_bc_100_12(**options) -> DenseNet:
    """DenseNet-BC (L=100, k=12) for 32x32 CIFAR images (Huang et al. 2017, Table 2)."""
    return build_cifar_densenet("densenet_bc_100_12", 100, 12, options)


@register_model(published_params="15.3M", **_CIFAR)
def densenet_bc_250_24(**options) -> DenseNet:
    """DenseNet-BC (L=250, k=24) for 32x32 CIFAR images (Huang et al. 2017, Table 2)."""
    return build_cifar_densenet("densenet_bc_250_24", 250, 24, options)


@register_model(published_params="25.6M", **_CIFAR)
def densenet_bc_190_40(**options) -> DenseNet:
    """DenseNet-BC (L=190, k=40) for 32x32 CIFAR images (Huang et al. 2017, Table 2)."""
    return build_cifar_densenet("densenet_bc_190_40", 190, 40, options)


@register_model(**_CIFAR)
def cifar_densenet(depth: int = 100, growth_rate: int = 12, **options) -> DenseNet:
    """A CIFAR DenseNet-BC of any depth 6n+4 and growth rate k."""
    return build_cifar_densenet("cifar_densenet", depth, growth_rate, options,
                                extra=("depth", "growth_rate"))

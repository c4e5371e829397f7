"""ResNets for ImageNet (18-152) and CIFAR (6n+2 layers), He et al. 2015.

One class, :class:`ResNet`, builds every residual and plain network in the zoo from data: a
block class, blocks per stage, widths and a stem. Parameter names equal torchvision's, so its
checkpoints (and timm's ``resnet*``) load with ``strict=True``.
"""

from __future__ import annotations

import inspect
from functools import partial
from typing import Sequence

import torch
from torch import nn

from ..errors import ResnetsError
from .base import ClassifierModel
from .blocks import (BasicBlock, BottleneckBlock, LayerFactory, PreActBasicBlock,
                     PreActBottleneckBlock, canonical_shortcut)
from .features import FeatureStep
from .layers import linear_decay
from .registry import build, register_model
from .stages import make_stage, plan_stages

BLOCKS = {
    "basic": BasicBlock,
    "bottleneck": BottleneckBlock,
    "preact_basic": PreActBasicBlock,
    "preact_bottleneck": PreActBottleneckBlock,
}
STEMS = ("imagenet", "cifar")

PAPER = "He et al. 2015, Deep Residual Learning for Image Recognition (arXiv:1512.03385)"


class ResNet(ClassifierModel):
    """A residual (or plain) network: stem, stages of blocks, global pool, linear classifier.

    Args:
        block: block class or name ("basic", "bottleneck", "preact_basic",
            "preact_bottleneck").
        layers: blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
        num_classes: classifier outputs; 0 gives a headless feature extractor.
        in_chans: input channels (1 for grayscale, >3 for multispectral).
        widths: base width of each stage (bottlenecks output 4x this).
        stem: "imagenet" (7x7/2 conv and 3x3/2 max pool) or "cifar" (one 3x3 conv).
        shortcut: "A", "B", "C" (He et al. 2015, Table 3) or "none" for a plain network.
        zero_init_residual: zero the last BN of each residual branch, so blocks start as
            identities (post-activation blocks only).
        stride_in_1x1: bottlenecks stride on the first 1x1 (original paper) instead of the
            3x3 (torchvision's "v1.5").
        output_stride: stop down-sampling at 8 or 16 (dilating later stages instead).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth (Huang et al. 2016): block l of L drops its residual
            branch, per sample in training, with probability ``drop_path_rate * l / L``.
        block_dropout: dropout inside each residual branch, before its last convolution
            (wide ResNets: between the two 3x3 convolutions).
        groups, base_width: grouping and width of the bottleneck's 3x3 convolution
            (ResNeXt 32x4d: 32 and 4; wide ResNet-50-2: 1 and 128; ResNet: 1 and 64).
        attn_layer: "se" for squeeze-and-excitation on every residual branch (Hu et al.
            2018), "cbam", "eca" or "gc" (global context) for those modules, None for none;
            ``se_reduction`` is the reduction ratio r (of SE, CBAM and GC).
        stem_width: channels of the stem (default: the first stage's width).
        norm_layer, act_layer: layer factories, ``norm_layer(channels)`` and
            ``act_layer(inplace=True)``.
        grad_checkpointing: recompute each stage's activations in backward to save memory.
        branch_widths: the channels inside each residual branch, block after block (a basic
            block has one such width, a bottleneck two): a structurally pruned network
            (``resnets prune``); empty keeps the architecture's own.
    """

    def __init__(self, block: type[nn.Module] | str, layers: Sequence[int],
                 num_classes: int = 1000, in_chans: int = 3,
                 widths: Sequence[int] = (64, 128, 256, 512), stem: str = "imagenet",
                 shortcut: str = "B", zero_init_residual: bool = False,
                 stride_in_1x1: bool = False, output_stride: int | None = None,
                 drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 block_dropout: float = 0.0, groups: int = 1, base_width: int = 64,
                 attn_layer: str | None = None, se_reduction: int = 16,
                 stem_width: int | None = None, norm_layer: LayerFactory = nn.BatchNorm2d,
                 act_layer: LayerFactory = nn.ReLU, grad_checkpointing: bool = False,
                 branch_widths: Sequence[int] = ()) -> None:
        super().__init__()
        block = _resolve_block(block)
        if len(layers) != len(widths):
            raise ResnetsError(f"layers {tuple(layers)} and widths {tuple(widths)} must have "
                               "one entry per stage")
        if stem not in STEMS:
            raise ResnetsError(f"unknown stem {stem!r}; use one of {STEMS}")
        if in_chans < 1:
            raise ResnetsError(f"in_chans must be >= 1, got {in_chans}")
        shortcut = canonical_shortcut(shortcut)
        bottleneck_options = _bottleneck_options(block, stride_in_1x1=stride_in_1x1,
                                                 groups=groups, base_width=base_width)
        self.preact = block.preact
        self.in_chans = in_chans

        stem_width = stem_width or widths[0]
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_chans, stem_width, 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_chans, stem_width, 3, stride=1, padding=1, bias=False)
        # A pre-activation net leaves BN-ReLU to its first block.
        self.bn1 = nn.Identity() if self.preact else norm_layer(stem_width)
        self.act1 = nn.Identity() if self.preact else act_layer(inplace=True)
        stem_reduction = 4 if stem == "imagenet" else 1
        self.maxpool = (nn.MaxPool2d(3, stride=2, padding=1) if stem == "imagenet"
                        else nn.Identity())

        strides = [1] + [2] * (len(layers) - 1)
        plans = plan_stages(strides, stem_reduction, output_stride)
        self.stage_names = [f"layer{i + 1}" for i in range(len(layers))]
        # The stem's point is its activation, before the pool (timm's act1, reduction 2).
        self.feature_info = [dict(num_chs=stem_width, reduction=2 if stem == "imagenet" else 1,
                                  module="act1")]
        in_chs = stem_width
        rates = linear_decay(drop_path_rate, sum(layers))
        inner = split_branch_widths(branch_widths, block, layers)
        for i, (name, planes, n, plan) in enumerate(zip(self.stage_names, widths, layers,
                                                         plans)):
            first = sum(layers[:i])
            stage = make_stage(block, in_chs, planes, n, plan, rates[first:first + n],
                               inner_widths=inner[first:first + n] if inner else (),
                               shortcut=shortcut, norm_layer=norm_layer, act_layer=act_layer,
                               attn_layer=attn_layer, se_reduction=se_reduction,
                               block_dropout=block_dropout, **bottleneck_options)
            self.add_module(name, stage)
            in_chs = planes * block.expansion
            self.feature_info.append(dict(num_chs=in_chs, reduction=plan.reduction,
                                          module=name))
        # Pre-activation nets end with the BN-ReLU that their last block did not apply.
        self.norm = norm_layer(in_chs) if self.preact else nn.Identity()
        self.act = act_layer(inplace=True) if self.preact else nn.Identity()
        self.final_norm_modules = ("norm", "act")
        self._init_head(in_chs, num_classes, drop_rate)
        self._init_weights(zero_init_residual)
        self.set_grad_checkpointing(grad_checkpointing)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for name in self.stage_names:
                for blk in getattr(self, name):
                    if blk.residual:
                        blk.zero_init_last()

    def stages(self) -> list[nn.Module]:
        return [getattr(self, name) for name in self.stage_names]

    def forward_stem(self, x: torch.Tensor, pool: bool = True) -> torch.Tensor:
        """The stem's output (``pool=False``: its feature point, before the max pool)."""
        stem = self._stem if pool else self._stem_act
        if self.checkpointing_now():  # a 7x7 stem's maps are as large as the first stage's
            return self.recompute_in_backward(stem, x, self.bn1)
        return stem(x)

    def _stem_act(self, x: torch.Tensor) -> torch.Tensor:
        return self.act1(self.bn1(self.conv1(x)))

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self._stem_act(x))

    def forward_final_norm(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # The stem and its pool in one step: checkpointed together, backward keeps only x.
        x = self.forward_stem(x)
        for stage in self.stages():
            x = self.run_stage(stage, x)
        return self.forward_final_norm(x)

    def feature_steps(self) -> list[FeatureStep]:
        first, *others = self.stage_names  # the stem's pool leads to the first stage
        return [FeatureStep(("conv1", "bn1", "act1"), partial(self.forward_stem, pool=False)),
                FeatureStep(("maxpool", first),
                            lambda x: self._run_named_stage(first, self.maxpool(x))),
                *[FeatureStep((name,), partial(self._run_named_stage, name)) for name in others]]

    def _run_named_stage(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return self.run_stage(getattr(self, name), x)


def _resolve_block(block: type[nn.Module] | str) -> type[nn.Module]:
    if isinstance(block, str):
        if block not in BLOCKS:
            raise ResnetsError(f"unknown block {block!r}; use one of {sorted(BLOCKS)}")
        return BLOCKS[block]
    return block


def split_branch_widths(widths: Sequence[int], block: type[nn.Module],
                        layers: Sequence[int]) -> list[tuple[int, ...]]:
    """The flat ``branch_widths`` cut into one tuple per block (empty: none given)."""
    if not widths:
        return []
    per_block = getattr(block, "inner_layers", 0)
    blocks = sum(layers)
    if not per_block or len(widths) != per_block * blocks:
        raise ResnetsError(f"branch_widths has {len(widths)} entries; this network's "
                           f"{blocks} {block.__name__}s need {per_block * blocks} "
                           f"({per_block} per block)")
    return [tuple(widths[i:i + per_block]) for i in range(0, len(widths), per_block)]


def _bottleneck_options(block: type[nn.Module], **options) -> dict:
    """Those of the bottleneck-only ``options`` that ``block`` takes. A basic block has no
    1x1 convolution nor a grouped or widened 3x3: one of them set to other than its default
    is an error there (rather than an option silently ignored)."""
    accepted = inspect.signature(block).parameters
    defaults = dict(stride_in_1x1=False, groups=1, base_width=64)  # what a basic block does
    changed = [f"{key}={value!r}" for key, value in options.items()
               if key not in accepted and value != defaults[key]]
    if changed:
        raise ResnetsError(f"{block.__name__} has no 1x1 convolution nor a grouped or widened "
                           f"3x3 ({', '.join(changed)}); use a bottleneck network for those")
    return {key: value for key, value in options.items() if key in accepted}


def cifar_depth_to_blocks(depth: int, block: type[nn.Module] = BasicBlock,
                          offset: int = 2) -> int:
    """Blocks per stage of a 3-stage CIFAR net: depth = 6n+2 (basic) or 9n+2 (bottleneck).

    ``offset`` counts the layers outside the blocks: 2 (stem and classifier) for He et al.'s
    nets, 4 for wide ResNets, which also count the projection shortcuts.
    """
    per_block = 2 if block.expansion == 1 else 3
    step = 3 * per_block
    if (not isinstance(depth, int) or isinstance(depth, bool) or depth < step + offset
            or (depth - offset) % step):
        valid = ", ".join(str(step * n + offset) for n in range(1, 5))
        kind = "basic" if per_block == 2 else "bottleneck"
        raise ResnetsError(f"depth {depth} is impossible for a CIFAR net of {kind} blocks: "
                           f"it must be {step}n+{offset} ({valid}, ...)")
    return (depth - offset) // step


def build_cifar(name: str, depth: int, block: type[nn.Module], shortcut: str,
                options: dict, extra: tuple[str, ...] = (), cls: type[ResNet] | None = None
                ) -> ResNet:
    """A 3-stage CIFAR network of widths 16/32/64 (He et al. 2015, Sec. 4.2).

    ``extra`` names the builder's own arguments (``depth`` of the any-depth builders), so
    that an error about a wrong option lists them and only them; ``cls`` is the network's
    class (a subclass of :class:`ResNet` with methods of its own; default ResNet).
    """
    n = cifar_depth_to_blocks(depth, block)
    fixed = dict(block=block, layers=(n, n, n), widths=(16, 32, 64), stem="cifar")
    options.setdefault("shortcut", shortcut)
    return build(cls or ResNet, fixed, options, name, extra=extra)


def build_imagenet(name: str, block: type[nn.Module], layers: tuple[int, ...],
                   options: dict, **fixed) -> ResNet:
    """A 4-stage ImageNet network; ``fixed`` are further options the name fixes (such as
    ResNeXt's ``groups`` and ``base_width``)."""
    return build(ResNet, dict(block=block, layers=layers, **fixed), options, name)


IMAGENET_LAYERS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3),
                   101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


_IMAGENET = dict(family="resnet", input_size=224, num_classes=1000, reference=PAPER)
_CIFAR = dict(family="resnet", input_size=32, num_classes=10, reference=PAPER)


@register_model(published_params="11.7M", **_IMAGENET)
def resnet18(**options) -> ResNet:
    """ResNet-18 for 224x224 ImageNet images: basic blocks 2-2-2-2 (He et al. 2015, Table 1)."""
    return build_imagenet("resnet18", BasicBlock, IMAGENET_LAYERS[18], options)


@register_model(published_params="21.8M", **_IMAGENET)
def resnet34(**options) -> ResNet:
    """ResNet-34 for 224x224 ImageNet images: basic blocks 3-4-6-3 (He et al. 2015, Table 1)."""
    return build_imagenet("resnet34", BasicBlock, IMAGENET_LAYERS[34], options)


@register_model(published_params="25.6M", **_IMAGENET)
def resnet50(**options) -> ResNet:
    """ResNet-50 for 224x224 ImageNet images: bottlenecks 3-4-6-3 (He et al. 2015, Table 1)."""
    return build_imagenet("resnet50", BottleneckBlock, IMAGENET_LAYERS[50], options)


@register_model(published_params="44.5M", **_IMAGENET)
def resnet101(**options) -> ResNet:
    """ResNet-101 for ImageNet images: bottlenecks 3-4-23-3 (He et al. 2015, Table 1)."""
    return build_imagenet("resnet101", BottleneckBlock, IMAGENET_LAYERS[101], options)


@register_model(published_params="60.2M", **_IMAGENET)
def resnet152(**options) -> ResNet:
    """ResNet-152 for ImageNet images: bottlenecks 3-8-36-3 (He et al. 2015, Table 1)."""
    return build_imagenet("resnet152", BottleneckBlock, IMAGENET_LAYERS[152], options)


@register_model(published_params="0.27M", **_CIFAR)
def resnet20(**options) -> ResNet:
    """ResNet-20 for 32x32 CIFAR images, n=3, option A shortcuts (He et al. 2015, Sec. 4.2)."""
    return build_cifar("resnet20", 20, BasicBlock, "A", options)


@register_model(published_params="0.46M", **_CIFAR)
def resnet32(**options) -> ResNet:
    """ResNet-32 for 32x32 CIFAR images, n=5, option A shortcuts (He et al. 2015, Sec. 4.2)."""
    return build_cifar("resnet32", 32, BasicBlock, "A", options)


@register_model(published_params="0.66M", **_CIFAR)
def resnet44(**options) -> ResNet:
    """ResNet-44 for 32x32 CIFAR images, n=7, option A shortcuts (He et al. 2015, Sec. 4.2)."""
    return build_cifar("resnet44", 44, BasicBlock, "A", options)


@register_model(published_params="0.85M", **_CIFAR)
def resnet56(**options) -> ResNet:
    """ResNet-56 for 32x32 CIFAR images, n=9, option A shortcuts (He et al. 2015, Sec. 4.2)."""
    return build_cifar("resnet56", 56, BasicBlock, "A", options)


@register_model(published_params="1.7M", **_CIFAR)
def resnet110(**options) -> ResNet:
    """ResNet-110 for CIFAR images, n=18, option A shortcuts (He et al. 2015, Sec. 4.2)."""
    return build_cifar("resnet110", 110, BasicBlock, "A", options)


@register_model(published_params="19.4M", **_CIFAR)
def resnet1202(**options) -> ResNet:
    """ResNet-1202 for CIFAR images, n=200, option A shortcuts (He et al. 2015, Sec. 4.2)."""
    return build_cifar("resnet1202", 1202, BasicBlock, "A", options)


@register_model(**_CIFAR)
def cifar_resnet(depth: int = 20, **options) -> ResNet:
    """A CIFAR ResNet of any depth 6n+2 (option A shortcuts unless ``shortcut`` says)."""
    return build_cifar("cifar_resnet", depth, BasicBlock, "A", options, extra=("depth",))

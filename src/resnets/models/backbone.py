"""Registry models as backbones for torchvision's detection and segmentation heads.

It is the models' (both dense-prediction tasks build on it), as timm's ``features_only``.

torchvision's heads read an ``OrderedDict`` of feature maps from a backbone that has an
``out_channels`` attribute. :class:`RegistryBackbone` gives them the maps of any registry
model through its ``forward_intermediates`` and ``feature_info``, so every family (ResNet,
plain, pre-activation, ResNeXt, SE, wide, DenseNet) plugs in without knowing module names.
A backbone's stages are the feature points after the stem (:func:`stage_info`).

Detection practice (torchvision, Detectron) freezes the backbone's BatchNorm: with a few
images per step the batch statistics are too noisy to learn, so each BN becomes an affine
map with fixed statistics (:func:`freeze_batchnorm`), and the early stages, which learn
generic edges, are frozen too (:func:`set_trainable_stages`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import nn
from torchvision.ops import FeaturePyramidNetwork, FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import ExtraFPNBlock

from ..errors import ResnetsError
from ..weights import load_weights
from .layers import group_norm
from .registry import create_model

NORMS = ("frozen", "batch", "group")  # backbone normalisation choices


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm2d`` in ``module`` by a ``FrozenBatchNorm2d`` with its values.

    The frozen layer computes ``(x - running_mean) / sqrt(running_var + eps) * weight + bias``
    with all four as buffers, so neither training mode nor the optimiser changes it.
    """
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            with torch.no_grad():
                if child.affine:
                    frozen.weight.copy_(child.weight)
                    frozen.bias.copy_(child.bias)
                if child.track_running_stats:
                    frozen.running_mean.copy_(child.running_mean)
                    frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen.to(child.weight.device if child.affine else "cpu"))
        else:
            freeze_batchnorm(child)
    return module


def stage_info(model: nn.Module) -> list[dict]:
    """The ``feature_info`` of the stages: every registry model lists its stem first."""
    return model.feature_info[1:]


def set_trainable_stages(model: nn.Module, trainable: int) -> None:
    """Train only the deepest ``trainable`` stages (and what follows them); freeze the rest.

    Stages are the entries of :func:`stage_info`; ``trainable`` runs from 0 (all frozen) to
    their count + 1 (the stem too), as torchvision's ``trainable_backbone_layers``;
    -1 trains everything, whatever the number of stages.
    A stage owns the parameters registered after the previous stage's module up to its own,
    so a DenseNet's transition belongs to the dense block it feeds.
    """
    stages = [info["module"] for info in stage_info(model)]
    trainable = len(stages) + 1 if trainable == -1 else trainable
    if not 0 <= trainable <= len(stages) + 1:
        raise ResnetsError(f"trainable_layers must be in 0..{len(stages) + 1} for this "
                           f"backbone ({len(stages)} stages and the stem; -1 = all), got "
                           f"{trainable}")
    names = [name for name, _ in model.named_parameters()]

    def position(prefix: str, last: bool) -> int:
        hits = [i for i, n in enumerate(names) if n.startswith(prefix + ".")]
        return hits[-1] + 1 if last else hits[0]

    if trainable == 0:
        first_trainable = len(names)
    elif trainable == len(stages) + 1:
        first_trainable = 0
    elif trainable == len(stages):  # the stem stays frozen
        first_trainable = position(stages[0], last=False)
    else:
        first_trainable = position(stages[len(stages) - trainable - 1], last=True)
    for i, (_, param) in enumerate(model.named_parameters()):
        param.requires_grad_(i >= first_trainable)


def build_body(name: str, norm: str = "frozen", trainable_layers: int = 3,
               output_stride: int | None = None, weights: str = "") -> nn.Module:
    """The registry model ``name`` without classifier, ready to serve feature maps.

    ``norm``: "frozen" BatchNorm (for pretrained weights), trainable "batch" norm, or "group"
    norm (for training from scratch, He et al. 2019). ``weights`` is a weights file of the
    classification model (its classifier is ignored).
    """
    if norm not in NORMS:
        raise ResnetsError(f"unknown backbone norm {norm!r}; use one of {', '.join(NORMS)}")
    options = {"norm_layer": group_norm} if norm == "group" else {}
    if output_stride is not None:
        options["output_stride"] = output_stride
    model = create_model(name, num_classes=0, **options)
    if not hasattr(model, "forward_intermediates"):
        raise ResnetsError(f"{name} has no multi-scale features; use an image model")
    if weights:
        load_weights(model, weights, strict=False)
    if norm == "frozen":
        freeze_batchnorm(model)
    set_trainable_stages(model, trainable_layers)
    return model


class RegistryBackbone(nn.Module):
    """Selected ``forward_intermediates`` maps of a registry model, as a named dict.

    ``return_stages`` maps output names to stage indices into :func:`stage_info`, e.g.
    ``{"0": 1, "1": 2, "2": 3}`` for an FPN over C3-C5 or ``{"aux": 2, "out": 3}``
    for torchvision's segmentation models. The last stage's map is after the final norm of a
    pre-activation net (``forward_intermediates(norm=True)``).
    """

    def __init__(self, body: nn.Module, return_stages: Mapping[str, int]) -> None:
        super().__init__()
        stages = stage_info(body)
        if not return_stages or any(not 0 <= i < len(stages) for i in return_stages.values()):
            raise ResnetsError(f"return_stages {dict(return_stages)} must index the "
                               f"{len(stages)} stages of the backbone")
        self.body = body
        self.return_stages = dict(return_stages)
        self.channels = [stages[i]["num_chs"] for i in return_stages.values()]
        self.out_channels = self.channels[-1]
        self.feature_indices = sorted({i + 1 for i in return_stages.values()})  # after the stem

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        maps = dict(zip(self.feature_indices, self.body.forward_intermediates(
            x, indices=self.feature_indices, norm=True, stop_early=True,
            intermediates_only=True)))
        return OrderedDict((key, maps[i + 1]) for key, i in self.return_stages.items())


class FPNBackbone(nn.Module):
    """A feature pyramid (Lin et al. 2017, arXiv:1612.03144) over a registry backbone.

    P_l = conv3x3(conv1x1(C_l) + upsample(P_{l+1}'s lateral sum)), from torchvision's
    ``FeaturePyramidNetwork``; ``extra`` adds coarser levels (max-pooled "pool" for Faster
    R-CNN, P6/P7 for RetinaNet).
    """

    def __init__(self, body: nn.Module, first_stage: int, out_channels: int,
                 extra: ExtraFPNBlock | None) -> None:
        super().__init__()
        stages = range(first_stage, len(stage_info(body)))
        self.features = RegistryBackbone(body, {str(k): i for k, i in enumerate(stages)})
        self.fpn = FeaturePyramidNetwork(self.features.channels, out_channels,
                                         extra_blocks=extra)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return self.fpn(self.features(x))

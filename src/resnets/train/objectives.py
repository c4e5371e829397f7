"""What one training step minimises, given a batch: the loss and the logits it came from.

The plain objective is cross-entropy on the batch, or with ``optim.loss=bce`` one-vs-all binary
cross-entropy against one-hot (smoothed) targets. Mixup/CutMix (``data.mixup_alpha``,
``data.cutmix_alpha``) train on mixed images against mixed targets; adversarial training
(``adv.method``) trains on attacked images; a gated model's gates learn their execution
rate (``gate.target``). The engine calls ``objective(net, images, labels)``
and never needs to know which one it runs.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..models import model_info
from .config import TrainConfig

Objective = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor],
                     tuple[torch.Tensor, torch.Tensor]]


def cross_entropy(label_smoothing: float = 0.0) -> Objective:
    """Softmax cross-entropy with optional label smoothing (Szegedy et al. 2016)."""

    def objective(net, images, labels):
        logits = net(images)
        return F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing), logits

    return objective


def binary_cross_entropy(label_smoothing: float = 0.0, threshold: float = 0.0) -> Objective:
    """Sigmoid BCE of each class's logit against the one-hot (smoothed) labels."""
    from ..data.mix import MixedBatch, mixed_binary_cross_entropy

    def objective(net, images, labels):
        logits = net(images)
        unmixed = MixedBatch(images, labels, labels, 1.0)
        return mixed_binary_cross_entropy(logits, unmixed, label_smoothing, threshold), logits

    return objective


def bn_scale_penalty(objective: Objective, strength: float) -> Objective:
    """``objective`` plus ``strength`` times the L1 norm of every BatchNorm scale: network
    slimming's sparsity (Liu et al. 2017), so that ``resnets prune --criterion bn`` finds
    channels whose scale went to zero."""

    def penalised(net, images, labels):
        loss, logits = objective(net, images, labels)
        scales = [m.weight for m in net.modules()
                  if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.weight is not None]
        return loss + strength * sum(s.abs().sum() for s in scales), logits

    return penalised


def build_objective(cfg: TrainConfig, mean: list[float], std: list[float],
                    num_classes: int, teacher: torch.nn.Module | None = None) -> Objective:
    """The configured objective; ``mean``/``std`` map the loader's images back to pixels;
    ``teacher``: the model of ``distill.teacher``, whose soft targets join the loss."""
    objective = _hard_objective(cfg, mean, std, num_classes)
    if teacher is not None:
        from .distill import distill_objective

        objective = distill_objective(objective, teacher, cfg.distill.temperature,
                                      cfg.distill.weight, cfg.channels_last, mean, std,
                                      cfg.distill.attention)
    return bn_scale_penalty(objective, cfg.model.bn_l1) if cfg.model.bn_l1 else objective


def _hard_objective(cfg: TrainConfig, mean: list[float], std: list[float],
                    num_classes: int) -> Objective:
    """The hard-label objective; a gated model's adds the gates' target-rate loss
    (``gate.*``, train/gates.py)."""
    objective = _image_objective(cfg, mean, std, num_classes)
    if model_info(cfg.model.name).family == "gated":
        from .gates import with_rate_loss

        return with_rate_loss(objective, cfg.gate.target, cfg.gate.weight)
    return objective


def _image_objective(cfg: TrainConfig, mean: list[float], std: list[float],
                     num_classes: int) -> Objective:
    if cfg.adv.method != "none":
        from .adversarial import adversarial_objective

        return adversarial_objective(cfg, mean, std)
    if cfg.data.mixup_alpha or cfg.data.cutmix_alpha:
        from ..data.mix import mix_objective

        return mix_objective(cfg, num_classes)
    if cfg.optim.loss == "bce":
        return binary_cross_entropy(cfg.optim.label_smoothing, cfg.optim.bce_threshold)
    return cross_entropy(cfg.optim.label_smoothing)

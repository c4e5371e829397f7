"""What one training step minimises, given a batch: the loss and the logits it came from.

The plain objective is cross-entropy on the batch. Mixup/CutMix (``data.mixup_alpha``,
``data.cutmix_alpha``) train on mixed images against mixed targets; adversarial training
(``adv.method``) trains on attacked images. The engine calls ``objective(net, images, labels)``
and never needs to know which one it runs.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .config import TrainConfig

Objective = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor],
                     tuple[torch.Tensor, torch.Tensor]]


def cross_entropy(label_smoothing: float = 0.0) -> Objective:
    """Softmax cross-entropy with optional label smoothing (Szegedy et al. 2016)."""

    def objective(net, images, labels):
        logits = net(images)
        return F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing), logits

    return objective


def build_objective(cfg: TrainConfig, mean: list[float], std: list[float],
                    num_classes: int) -> Objective:
    """The configured objective; ``mean``/``std`` map the loader's images back to pixels."""
    if cfg.adv.method != "none":
        from .adversarial import adversarial_objective

        return adversarial_objective(cfg, mean, std)
    if cfg.data.mixup_alpha or cfg.data.cutmix_alpha:
        from ..data.mix import mix_objective

        return mix_objective(cfg, num_classes)
    return cross_entropy(cfg.optim.label_smoothing)

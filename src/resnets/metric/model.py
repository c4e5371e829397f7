"""The embedding model: a registry backbone's pooled features, an optional projection to D
dimensions and BN-neck, L2-normalised; with the head its training loss needs.

``model(images)`` is the unit-length embedding (what evaluation and ``resnets verify``
compare by cosine); ``model(images, labels)`` is what the loss reads: the margin logits of
ArcFace/CosFace, the linear head's logits of softmax, the embeddings of triplet/supcon. The
loss's parameters live in the model, so the engine's optimiser, DDP and checkpoints see them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import MetricSettings
from .losses import (MarginHead, batch_hard_triplet, semi_hard_triplet,
                     supervised_contrastive)


class EmbeddingNet(nn.Module):
    def __init__(self, backbone: nn.Module, settings: MetricSettings, identities: int) -> None:
        super().__init__()
        self.backbone = backbone
        width = int(backbone.num_features)
        self.projection = nn.Linear(width, settings.dim) if settings.dim else nn.Identity()
        self.dim = settings.dim or width
        self.neck = nn.BatchNorm1d(self.dim) if settings.bn_neck else nn.Identity()
        self.loss = settings.loss
        if settings.loss in ("arcface", "cosface"):
            self.head = MarginHead(self.dim, identities, settings.loss, settings.scale,
                                   settings.the_margin, settings.weight_std)
        elif settings.loss == "softmax":
            self.head = nn.Linear(self.dim, identities)
        else:
            self.head = None

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The embedding before normalisation: pooled features, projected, BN-neck."""
        pooled = self.backbone.forward_head(self.backbone.forward_features(images),
                                            pre_logits=True)
        return self.neck(self.projection(pooled))

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None
                ) -> torch.Tensor:
        embedding = self.features(images)
        if labels is None or self.head is None:
            return F.normalize(embedding.float())
        if self.loss == "softmax":
            return self.head(embedding)
        return self.head(embedding, labels)


def metric_loss(settings: MetricSettings):
    """``loss(outputs, labels)`` of ``model(images, labels)``'s outputs."""
    if settings.loss in ("arcface", "cosface", "softmax"):
        return lambda logits, labels: F.cross_entropy(logits.float(), labels)
    if settings.loss == "supcon":
        return lambda z, labels: supervised_contrastive(z, labels, settings.temperature)
    mine = batch_hard_triplet if settings.mining == "batch_hard" else semi_hard_triplet
    return lambda z, labels: mine(z, labels, settings.the_margin)

"""The losses of metric learning, on embeddings ``e`` (N x D) and identity labels (N).

* ArcFace (Deng et al. 2019) and CosFace (Wang et al. 2018): a softmax over ``s`` times the
  cosines between the normalised embedding and one normalised weight vector per identity,
  with a margin at the true identity: ``cos(theta + m)`` (additive angular) or ``cos - m``
  (additive cosine). As insightface's ``arcface_torch``, once ``theta + m`` passes pi the
  target logit continues as ``cos - m sin(m)``, which keeps it decreasing in theta.
* Triplet loss (FaceNet, Schroff et al. 2015) on Euclidean distances of unit embeddings,
  ``max(0, d(a, p) - d(a, n) + alpha)``, with the triplets mined in the batch: batch-hard
  (Hermans et al. 2017: each anchor's farthest positive and closest negative) or semi-hard
  (FaceNet: for each anchor-positive pair the closest negative farther than the positive;
  when none is, the farthest negative, as TensorFlow's ``triplet_semihard_loss``).
* Supervised contrastive (Khosla et al. 2020): each anchor's mean log-probability of its
  positives among all other samples, similarities of unit embeddings over a temperature.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

COSINE_LIMIT = 1 - 1e-7  # cosines are kept inside (-1, 1): sin(theta) stays differentiable


class MarginHead(nn.Module):
    """The identities' weight vectors and the margin logits of ArcFace or CosFace."""

    def __init__(self, dim: int, identities: int, kind: str, scale: float, margin: float,
                 weight_std: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(identities, dim))
        # The gradient of a row's direction is divided by the row's norm (~std x sqrt(dim)):
        # unit-variance entries (pytorch-metric-learning) turn slowly, small ones fast.
        nn.init.normal_(self.weight, std=weight_std)
        self.kind, self.scale, self.margin = kind, scale, margin

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cosines = F.linear(F.normalize(embeddings.float()), F.normalize(self.weight.float()))
        return margin_logits(cosines, labels, self.kind, self.scale, self.margin)


def margin_logits(cosines: torch.Tensor, labels: torch.Tensor, kind: str, scale: float,
                  margin: float) -> torch.Tensor:
    """``scale`` x the cosines with the margin of ``kind`` (arcface | cosface) applied at each
    row's label; cross-entropy of these logits is the loss."""
    cosines = cosines.clamp(-COSINE_LIMIT, COSINE_LIMIT)
    target = cosines.gather(1, labels[:, None])
    if kind == "arcface":
        sine = (1 - target * target).sqrt()
        shifted = target * math.cos(margin) - sine * math.sin(margin)  # cos(theta + m)
        # Beyond theta = pi - m, cos(theta + m) would rise again: continue linearly instead.
        target_margin = torch.where(target > math.cos(math.pi - margin), shifted,
                                    target - math.sin(math.pi - margin) * margin)
    else:
        target_margin = target - margin
    return scale * cosines.scatter(1, labels[:, None], target_margin)


def pairwise_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between the rows; the clamp keeps sqrt's gradient finite at 0."""
    squares = (embeddings * embeddings).sum(1)
    gram = embeddings @ embeddings.T
    return (squares[:, None] + squares[None, :] - 2 * gram).clamp_min(1e-12).sqrt()


def identity_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positives: same identity, not itself; negatives: another identity), N x N."""
    same = labels[:, None] == labels[None, :]
    itself = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~itself, ~same


def batch_hard_triplet(embeddings: torch.Tensor, labels: torch.Tensor, margin: float
                       ) -> torch.Tensor:
    """Mean over anchors of ``max(0, farthest positive - closest negative + margin)``;
    anchors without a positive or a negative in the batch count for nothing."""
    dist = pairwise_distances(embeddings.float())
    positive, negative = identity_masks(labels)
    hardest_positive = dist.masked_fill(~positive, -math.inf).amax(1)
    hardest_negative = dist.masked_fill(~negative, math.inf).amin(1)
    usable = positive.any(1) & negative.any(1)
    losses = F.relu(hardest_positive - hardest_negative + margin)
    return losses[usable].sum() / usable.sum().clamp_min(1)


def semi_hard_negatives(dist: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor
                        ) -> torch.Tensor:
    """For every (anchor a, positive p) the distance d(a, n) of the negative chosen: the
    smallest one above d(a, p); when no negative is farther, the largest (A x A x 1 view:
    entry [a, p])."""
    d_ap = dist[:, :, None]  # [a, p, 1]
    d_an = dist[:, None, :]  # [a, 1, n]
    farther = negative[:, None, :] & (d_an > d_ap)
    closest_farther = d_an.masked_fill(~farther, math.inf).amin(2)
    farthest = dist.masked_fill(~negative, -math.inf).amax(1)[:, None].expand_as(dist)
    return torch.where(farther.any(2), closest_farther, farthest)


def semi_hard_triplet(embeddings: torch.Tensor, labels: torch.Tensor, margin: float
                      ) -> torch.Tensor:
    """Mean over every anchor-positive pair (with a negative in the batch) of
    ``max(0, d(a, p) - d(a, n) + margin)`` with ``n`` its semi-hard negative."""
    dist = pairwise_distances(embeddings.float())
    positive, negative = identity_masks(labels)
    pairs = positive & negative.any(1, keepdim=True)
    chosen = semi_hard_negatives(dist, positive, negative)
    losses = F.relu(dist - chosen + margin)
    return losses[pairs].sum() / pairs.sum().clamp_min(1)


def supervised_contrastive(embeddings: torch.Tensor, labels: torch.Tensor,
                           temperature: float) -> torch.Tensor:
    """Khosla et al.'s L_out: mean over anchors with a positive of
    ``-mean_p log(exp(z_a.z_p / t) / sum_{b != a} exp(z_a.z_b / t))``."""
    z = F.normalize(embeddings.float())
    positive, _ = identity_masks(labels)
    itself = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    logits = (z @ z.T / temperature).masked_fill(itself, -math.inf)
    log_prob = logits - logits.logsumexp(1, keepdim=True)
    counts = positive.sum(1)
    per_anchor = -log_prob.masked_fill(~positive, 0).sum(1) / counts.clamp_min(1)
    usable = counts > 0
    return per_anchor[usable].sum() / usable.sum().clamp_min(1)

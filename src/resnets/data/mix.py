"""Mixup and CutMix: train on blends of image pairs against equally blended targets.

* mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization"): with
  lam ~ Beta(alpha, alpha) and a random pairing ``perm`` of the batch,
  x~ = lam * x + (1 - lam) * x[perm] and y~ = lam * y + (1 - lam) * y[perm].
* CutMix (Yun et al. 2019, "CutMix: Regularization Strategy to Train Strong Classifiers with
  Localizable Features"): a box of area (1 - lam) * H * W, centred uniformly at random, is
  pasted from x[perm] into x; lam is then corrected to the share of pixels kept after the box
  is clipped at the border, and y~ = lam * y + (1 - lam) * y[perm].

Both operate on whole batches on the device. Cross-entropy is linear in its target, so the
loss of the blended (and label-smoothed) target is the same blend of the two hard-label
losses: ``lam * CE(logits, y) + (1 - lam) * CE(logits, y[perm])``; nothing builds one-hot
tensors. One-vs-all binary cross-entropy (``optim.loss=bce``, Wightman et al. 2021, "ResNet
strikes back") is not linear that way once targets are thresholded, so it builds the blended
target vectors. Random draws come from torch's global generators (CPU for lam and the box, the
images' device for the pairing), which a training checkpoint saves and restores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ResnetsError


@dataclass(frozen=True)
class MixedBatch:
    """A blended batch and what its loss needs."""

    images: torch.Tensor  # N x C x H x W, the blended images
    labels: torch.Tensor  # N, the labels of the images mixed into (weight lam)
    partner_labels: torch.Tensor  # N, the labels of the images mixed in (weight 1 - lam)
    lam: float  # weight of ``labels`` in the target, in [0, 1]


def sample_lam(alpha: float) -> float:
    """lam ~ Beta(alpha, alpha), drawn from torch's global CPU generator."""
    if not alpha > 0:
        raise ResnetsError(f"the mixing alpha must be > 0, got {alpha}")
    concentration = torch.tensor(float(alpha), dtype=torch.float64)
    return float(torch.distributions.Beta(concentration, concentration).sample())


def mixup(images: torch.Tensor, labels: torch.Tensor, lam: float,
          perm: torch.Tensor) -> MixedBatch:
    """x~ = lam * x + (1 - lam) * x[perm] (Zhang et al. 2018, Eq. 1)."""
    mixed = images * lam + images[perm] * (1.0 - lam)
    return MixedBatch(mixed, labels, labels[perm], lam)


def cutmix_box(height: int, width: int, lam: float, centre: tuple[float, float]
               ) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the CutMix box, clipped to the image.

    The box has sides H * sqrt(1 - lam) and W * sqrt(1 - lam) around ``centre`` given as
    fractions (row, column) in [0, 1) of the height and width (Yun et al. 2019, Eq. 2).
    """
    cut = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * cut), int(width * cut)
    cy, cx = int(centre[0] * height), int(centre[1] * width)
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    return top, bottom, left, right


def cutmix(images: torch.Tensor, labels: torch.Tensor, lam: float, perm: torch.Tensor,
           centre: tuple[float, float]) -> MixedBatch:
    """Paste the box of x[perm] into x; lam becomes the share of x's pixels kept."""
    height, width = images.shape[-2:]
    top, bottom, left, right = cutmix_box(height, width, lam, centre)
    mixed = images.clone()
    mixed[..., top:bottom, left:right] = images[perm][..., top:bottom, left:right]
    kept = 1.0 - (bottom - top) * (right - left) / (height * width)
    return MixedBatch(mixed, labels, labels[perm], kept)


def mixed_cross_entropy(logits: torch.Tensor, batch: MixedBatch,
                        label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy against lam * y + (1 - lam) * y[perm], each optionally smoothed."""
    logits = logits.float()
    first = F.cross_entropy(logits, batch.labels, label_smoothing=label_smoothing)
    second = F.cross_entropy(logits, batch.partner_labels, label_smoothing=label_smoothing)
    return batch.lam * first + (1.0 - batch.lam) * second


def mixed_targets(batch: MixedBatch, num_classes: int, label_smoothing: float = 0.0
                  ) -> torch.Tensor:
    """N x classes targets lam * y + (1 - lam) * y[perm], each one-hot smoothed: the true class
    1 - s + s / classes, the others s / classes (the softmax smoothing's distribution)."""
    def smoothed(labels: torch.Tensor) -> torch.Tensor:
        hot = F.one_hot(labels, num_classes).float()
        return hot * (1.0 - label_smoothing) + label_smoothing / num_classes

    return batch.lam * smoothed(batch.labels) + (1.0 - batch.lam) * smoothed(batch.partner_labels)


def mixed_binary_cross_entropy(logits: torch.Tensor, batch: MixedBatch,
                               label_smoothing: float = 0.0, threshold: float = 0.0
                               ) -> torch.Tensor:
    """Sigmoid BCE of every class's logit against :func:`mixed_targets`, averaged over the
    N x classes entries (as ``BCEWithLogitsLoss``); ``threshold`` > 0 turns each target into
    1 where it exceeds the threshold and 0 elsewhere (RSB's 0.2: both mixed classes count)."""
    targets = mixed_targets(batch, logits.shape[1], label_smoothing)
    if threshold > 0:
        targets = (targets > threshold).float()
    return F.binary_cross_entropy_with_logits(logits.float(), targets)


def random_mix(images: torch.Tensor, labels: torch.Tensor, mixup_alpha: float,
               cutmix_alpha: float) -> MixedBatch:
    """Mixup or CutMix of a batch; with both alphas set, each batch picks one at 50/50."""
    if mixup_alpha < 0 or cutmix_alpha < 0 or not (mixup_alpha or cutmix_alpha):
        raise ResnetsError("set data.mixup_alpha or data.cutmix_alpha to a positive number "
                           f"(got {mixup_alpha} and {cutmix_alpha})")
    use_cutmix = cutmix_alpha > 0 and (mixup_alpha == 0 or float(torch.rand(())) < 0.5)
    lam = sample_lam(cutmix_alpha if use_cutmix else mixup_alpha)
    perm = torch.randperm(len(labels), device=images.device)
    if use_cutmix:
        centre = tuple(torch.rand(2, dtype=torch.float64).tolist())
        return cutmix(images, labels, lam, perm, centre)
    return mixup(images, labels, lam, perm)


def mix_objective(cfg, num_classes: int):
    """The training objective of ``cfg.data.mixup_alpha`` / ``cutmix_alpha``.

    Returns ``objective(net, images, labels) -> (loss, logits)`` on the blended batch, with
    ``cfg.optim.label_smoothing`` applied to both targets, under ``cfg.optim.loss`` (ce or
    bce). ``num_classes`` is only checked: the logits say how many classes there are.
    """
    mixup_alpha, cutmix_alpha = cfg.data.mixup_alpha, cfg.data.cutmix_alpha
    smoothing, threshold = cfg.optim.label_smoothing, cfg.optim.bce_threshold
    if num_classes < 2:
        raise ResnetsError(f"mixing needs at least 2 classes, the data has {num_classes}")

    def objective(net, images, labels):
        batch = random_mix(images, labels, mixup_alpha, cutmix_alpha)
        logits = net(batch.images)
        if cfg.optim.loss == "bce":
            return mixed_binary_cross_entropy(logits, batch, smoothing, threshold), logits
        return mixed_cross_entropy(logits, batch, smoothing), logits

    return objective

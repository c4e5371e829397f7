"""Class activation maps from gradients: Grad-CAM and Grad-CAM++, at any feature point.

* Grad-CAM: Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra, "Grad-CAM: Visual
  Explanations from Deep Networks via Gradient-based Localization" (ICCV 2017,
  arXiv:1610.02391). Each channel k of the map A at the chosen feature point is weighted by
  the spatial mean of dy_c/dA_k (Eq. 1); the map is ReLU(sum_k w_k A_k) (Eq. 2).
* Grad-CAM++: Chattopadhay, Sarkar, Howlader & Balasubramanian, "Grad-CAM++: Improved Visual
  Explanations for Deep Convolutional Networks" (WACV 2018, arXiv:1710.11063). The weights
  sum ReLU(dy_c/dA_k) over the positions, each position weighted by alpha = g^2 / (2 g^2 +
  sum_ab A_ab g^3) (Eq. 19 with the exponential score, g = dy_c/dA).

Written here (a few lines each): neither captum nor pytorch-grad-cam is a dependency, and the
maps come from the model surface every registry image model shares (``forward_intermediates``
and ``forward_head``), so no hooks are needed. The model runs in eval mode, so the images of a
batch do not interact and one backward pass gives every image's gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ResnetsError

METHODS = ("gradcam", "gradcam++")


def resolve_stage(model: nn.Module, stage: str | int | None) -> int:
    """The feature point ``stage`` names: an index into ``feature_info`` (negative from the
    end), its module name (``layer3``), or None for the last; else a one-line error."""
    points = [f["module"] for f in model.feature_info]
    if stage is None or stage == "":
        return len(points) - 1
    text = str(stage)
    if text in points:
        return points.index(text)
    try:
        index = int(text)
    except ValueError:
        index = None
    if index is None or not -len(points) <= index < len(points):
        raise ResnetsError(f"unknown stage {stage!r}; use an index from {-len(points)} to "
                           f"{len(points) - 1} or one of {', '.join(points)}")
    return index % len(points)


@dataclass
class Maps:
    """The maps of one batch for one class per image."""

    logits: torch.Tensor  # N x classes
    classes: torch.Tensor  # N, the class each image's maps explain
    gradcam: torch.Tensor  # N x h x w, at the feature point's resolution, >= 0
    gradcampp: torch.Tensor  # N x h x w


def class_maps(model: nn.Module, x: torch.Tensor, stage: int,
               classes: torch.Tensor | None = None, rank: int = 0) -> Maps:
    """Grad-CAM and Grad-CAM++ of ``x`` (N x C x H x W) at feature point ``stage``.

    ``classes`` (N) picks each image's class; None takes its ``rank``-th most likely class
    (0: the prediction).
    """
    model.eval()
    with torch.enable_grad():
        final, (fmap,) = model.forward_intermediates(x, indices=[stage])
        logits = model.forward_head(final)
        if classes is None:
            classes = logits.detach().topk(rank + 1, dim=1).indices[:, rank]
        if int(classes.min()) < 0 or int(classes.max()) >= logits.shape[1]:
            raise ResnetsError(f"class {int(classes.max())} is out of range: the model has "
                               f"{logits.shape[1]} classes (0 to {logits.shape[1] - 1})")
        score = logits.gather(1, classes.view(-1, 1)).sum()
        (grads,) = torch.autograd.grad(score, fmap)
    fmap, grads = fmap.detach().float(), grads.float()
    gradcam = F.relu((grads.mean(dim=(2, 3), keepdim=True) * fmap).sum(dim=1))
    g2 = grads.pow(2)
    denominator = 2 * g2 + fmap.sum(dim=(2, 3), keepdim=True) * grads.pow(3)
    alpha = torch.where(grads != 0, g2 / torch.where(denominator != 0, denominator,
                                                    torch.ones_like(denominator)), 0.0)
    weights = (alpha * F.relu(grads)).sum(dim=(2, 3), keepdim=True)
    gradcampp = F.relu((weights * fmap).sum(dim=1))
    return Maps(logits.detach(), classes, gradcam, gradcampp)


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """N x h x w maps resized (bilinear) to the image's ``size``, N x H x W."""
    return F.interpolate(maps.unsqueeze(1), size=size, mode="bilinear",
                         align_corners=False).squeeze(1)


def peak(maps: torch.Tensor) -> torch.Tensor:
    """N x 2 (row, column) of each map's maximum."""
    flat = maps.flatten(1).argmax(dim=1)
    return torch.stack([flat // maps.shape[-1], flat % maps.shape[-1]], dim=1)


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """The ranks of ``values`` (flattened), ties sharing their mean rank (the zeros that a
    ReLU leaves in a map are one tie)."""
    unique, inverse, counts = torch.unique(values.flatten(), return_inverse=True,
                                           return_counts=True)
    first = torch.cumsum(counts, 0) - counts  # rank of each distinct value's first copy
    return (first + (counts - 1) / 2).double()[inverse]


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two maps' values (the Pearson correlation of their
    average ranks; 0 when either map is constant)."""
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()).clamp_min(1e-12))

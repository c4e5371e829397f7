"""Intersection over union from a confusion matrix (the PASCAL VOC and Cityscapes measure).

For class c with confusion matrix M (rows: true class, columns: predicted class),
IoU_c = M[c, c] / (sum_j M[c, j] + sum_i M[i, c] - M[c, c]): true positives over the
union of the pixels labelled c and the pixels predicted c. The mean IoU averages the classes
that occur in the labels or the predictions; pixels marked ignore count nowhere.
"""

from __future__ import annotations

import torch

from .data import IGNORE_INDEX


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """``num_classes`` x ``num_classes`` pixel counts, rows true class, columns predicted."""
    keep = target != ignore_index
    pairs = target[keep].long() * num_classes + pred[keep].long()
    return torch.bincount(pairs, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def iou_per_class(confusion: torch.Tensor) -> torch.Tensor:
    """IoU of every class; NaN for a class absent from both labels and predictions."""
    confusion = confusion.double()
    hits = confusion.diagonal()
    union = confusion.sum(0) + confusion.sum(1) - hits
    return torch.where(union > 0, hits / union.clamp(min=1), torch.full_like(hits, torch.nan))


class SegmentationScore:
    """Accumulates a confusion matrix over batches; :meth:`compute` gives the scores."""

    def __init__(self, num_classes: int, class_names: list[str] | None = None) -> None:
        self.num_classes = num_classes
        self.class_names = class_names or [str(k) for k in range(num_classes)]
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add predicted and true class ids of any shape (the same shape for both)."""
        self.confusion += confusion_matrix(pred.cpu(), target.cpu(), self.num_classes)

    def compute(self) -> dict[str, float | dict[str, float]]:
        """``miou``, ``pixel_accuracy`` and ``iou`` per class name (NaN: class never seen)."""
        iou = iou_per_class(self.confusion)
        total = self.confusion.sum()
        return {"miou": float(iou.nanmean()) if not iou.isnan().all() else 0.0,
                "pixel_accuracy": float(self.confusion.diagonal().sum() / total)
                if total else 0.0,
                "iou": {name: float(v) for name, v in zip(self.class_names, iou)}}

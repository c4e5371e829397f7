"""Classification metrics as pure functions of logits, predictions and labels.

Counts are returned rather than rates so that batches can be summed exactly; rates come from
:func:`error_rates` at the end. Errors are fractions in [0, 1] (the papers print percent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..errors import ResnetsError


def _check_labels(targets: torch.Tensor, num_classes: int, what: str) -> None:
    if targets.ndim != 1 or targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise ResnetsError(f"{what} must be a 1-D integer tensor of class indices, got "
                           f"shape {tuple(targets.shape)} and dtype {targets.dtype}")
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= num_classes):
        bad = int(targets.max()) if int(targets.max()) >= num_classes else int(targets.min())
        raise ResnetsError(f"{what} contain class {bad}, outside 0..{num_classes - 1}; "
                           "set num_classes to match the data")


def topk_correct(logits: torch.Tensor, targets: torch.Tensor,
                 ks: Sequence[int] = (1, 5)) -> dict[int, int]:
    """How many samples have their target among the ``k`` highest logits, for each ``k``.

    ``k`` larger than the number of classes is clamped to it (every finite row is correct);
    the result stays keyed by the ``k`` asked for. Ties count against the target: a class
    scoring exactly the target's logit ranks ahead of it, so a constant output is wrong rather
    than right by index order. Rows containing NaN are wrong for every ``k``.
    """
    if logits.ndim != 2:
        raise ResnetsError(f"logits must be (batch, classes), got shape {tuple(logits.shape)}")
    _check_labels(targets, logits.shape[1], "targets")
    if targets.shape[0] != logits.shape[0]:
        raise ResnetsError(f"{logits.shape[0]} rows of logits but {targets.shape[0]} targets")
    if any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in ks):
        raise ResnetsError(f"top-k needs positive integers k, got {tuple(ks)}")
    num_classes = logits.shape[1]
    target_logit = logits.gather(1, targets.to(logits.device).long()[:, None])
    ahead = (logits >= target_logit).sum(1) - 1  # other classes scoring at least as high
    ahead = ahead.masked_fill(logits.isnan().any(1), num_classes)
    return {k: int((ahead < min(k, num_classes)).sum()) for k in ks}


def error_rates(correct: Mapping[int, int], total: int) -> dict[int, float]:
    """Top-k error fractions ``1 - correct[k] / total`` (NaN when ``total`` is 0)."""
    if total < 0 or any(not 0 <= c <= total for c in correct.values()):
        raise ValueError(f"correct counts {dict(correct)} do not fit {total} samples")
    if total == 0:
        return {k: math.nan for k in correct}
    return {k: 1.0 - c / total for k, c in correct.items()}


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor,
                     num_classes: int) -> torch.Tensor:
    """A ``(num_classes, num_classes)`` LongTensor: row = true class, column = predicted."""
    if num_classes < 1:
        raise ResnetsError(f"num_classes must be positive, got {num_classes}")
    _check_labels(preds, num_classes, "predictions")
    _check_labels(targets, num_classes, "targets")
    if preds.shape != targets.shape:
        raise ResnetsError(f"{preds.shape[0]} predictions but {targets.shape[0]} targets")
    flat = targets.long() * num_classes + preds.to(targets.device).long()
    counts = torch.bincount(flat, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)


def per_class_accuracy(cm: torch.Tensor) -> torch.Tensor:
    """Accuracy of each true class (diagonal over row sums); NaN for classes never seen."""
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ResnetsError(f"a confusion matrix is square, got shape {tuple(cm.shape)}")
    totals = cm.sum(1).double()
    return torch.where(totals > 0, cm.diagonal().double() / totals.clamp_min(1),
                       torch.full_like(totals, math.nan))


class RunningAverage:
    """A sample-weighted mean of a stream of values (e.g. per-batch losses)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, value: float | torch.Tensor, n: int = 1) -> None:
        """Add ``value``, the mean over ``n`` samples (a tensor is read with ``.item()``)."""
        if n < 0:
            raise ValueError(f"sample count must be >= 0, got {n}")
        value = value.item() if isinstance(value, torch.Tensor) else float(value)
        self.total += value * n
        self.count += n

    @property
    def average(self) -> float:
        return self.total / self.count if self.count else math.nan

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    def state_dict(self) -> dict[str, Any]:
        return {"total": self.total, "count": self.count}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.total, self.count = float(state["total"]), int(state["count"])

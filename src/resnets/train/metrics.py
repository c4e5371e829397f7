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


CALIBRATION_BINS = 15  # equal-width confidence bins, as Guo et al. (2017) and torchmetrics


def calibration_bins(logits: torch.Tensor, targets: torch.Tensor,
                     bins: int = CALIBRATION_BINS) -> torch.Tensor:
    """Per confidence bin: (samples, sum of confidences, correct predictions), float64.

    The confidence is the top softmax probability. Bin ``b`` holds confidences in
    ``[b / bins, (b + 1) / bins)``; a confidence of exactly 1 falls in the last bin. The table
    is a sum, so batches and processes add up; :func:`expected_calibration_error` reads it.
    """
    if logits.ndim != 2:
        raise ResnetsError(f"logits must be (batch, classes), got shape {tuple(logits.shape)}")
    _check_labels(targets, logits.shape[1], "targets")
    if targets.shape[0] != logits.shape[0]:
        raise ResnetsError(f"{logits.shape[0]} rows of logits but {targets.shape[0]} targets")
    if bins < 1:
        raise ResnetsError(f"calibration needs at least one bin, got {bins}")
    confidence, predicted = logits.detach().double().softmax(1).max(1)
    correct = (predicted == targets.to(predicted.device)).double()
    index = (confidence * bins).long().clamp_(0, bins - 1)
    table = torch.zeros(bins, 3, dtype=torch.float64, device=confidence.device)
    table[:, 0].index_add_(0, index, torch.ones_like(confidence))
    table[:, 1].index_add_(0, index, confidence)
    table[:, 2].index_add_(0, index, correct)
    return table.cpu()


def expected_calibration_error(table: torch.Tensor) -> float:
    """ECE: the sample-weighted mean over bins of |accuracy - mean confidence| (the L1 norm
    of torchmetrics' ``MulticlassCalibrationError``); NaN for no samples."""
    counts = table[:, 0]
    total = float(counts.sum())
    if total == 0:
        return math.nan
    return float((table[:, 2] - table[:, 1]).abs().sum() / total)


def reliability(table: torch.Tensor) -> dict[str, list[float]]:
    """Per bin: its lower edge, sample count, accuracy and mean confidence (NaN if empty)."""
    counts = table[:, 0]
    filled = counts > 0

    def mean(column: torch.Tensor) -> list[float]:
        return torch.where(filled, column / counts.clamp_min(1), math.nan).tolist()

    return {"lower": (torch.arange(len(counts)) / len(counts)).tolist(),
            "count": [int(c) for c in counts.tolist()],
            "accuracy": mean(table[:, 2]), "confidence": mean(table[:, 1])}


def precision_recall_f1(cm: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-class precision, recall and F1 from a confusion matrix (rows: true class).

    A ratio with nothing to count (no prediction of a class, no sample of it) is 0, as in
    torchmetrics and scikit-learn (``zero_division=0``).
    """
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ResnetsError(f"a confusion matrix is square, got shape {tuple(cm.shape)}")
    cm = cm.double()
    hits = cm.diagonal()
    predicted, actual = cm.sum(0), cm.sum(1)

    def ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
        return torch.where(den > 0, num / den.clamp_min(1e-300), torch.zeros_like(num))

    precision, recall = ratio(hits, predicted), ratio(hits, actual)
    f1 = ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1}


def macro_average(values: torch.Tensor, cm: torch.Tensor) -> float:
    """The mean of per-class ``values`` over the classes that occur as a true or predicted
    class (torchmetrics' ``average="macro"``: absent classes do not count); NaN if none."""
    present = (cm.sum(0) + cm.sum(1)) > 0
    return float(values[present].mean()) if bool(present.any()) else math.nan

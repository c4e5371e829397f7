"""Verification and identification measures on similarity scores (higher = more alike).

* 10-fold verification accuracy, LFW's protocol (Huang et al. 2007, "View 2"): for each fold,
  the threshold that maximises the accuracy on the other nine folds' pairs is applied to the
  fold's pairs; the mean and standard deviation over the folds are reported. A pair is
  declared "same" when its similarity is above the threshold; the candidate thresholds are
  the midpoints between consecutive distinct training similarities (and one below the lowest
  and one above the highest); of several equally good ones, the lowest is taken.
* TAR at FAR x: the threshold is the ``floor(x * negatives) + 1``-th largest negative
  similarity, so at most that many impostor pairs are accepted (FAR <= x); TAR is the share
  of genuine pairs above it. With fewer than 1 / x negatives this is the TAR at FAR 0.
* Identification: each probe's ranking of the gallery; rank-1 (its top gallery image is of
  its identity) and mAP (mean over probes of the average precision of that ranking).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class FoldResult:
    accuracies: list[float]  # per fold, with the threshold of the other folds
    thresholds: list[float]  # per fold

    @property
    def mean(self) -> float:
        return sum(self.accuracies) / len(self.accuracies)

    @property
    def std(self) -> float:
        m = self.mean
        return (sum((a - m) ** 2 for a in self.accuracies) / len(self.accuracies)) ** 0.5


def best_threshold(scores: torch.Tensor, same: torch.Tensor) -> float:
    """The threshold with the highest accuracy of ``scores > t`` against ``same``."""
    values, order = scores.double().sort()
    genuine = same[order].long()
    n = len(values)
    # Splitting before position i: samples i.. are declared "same".
    same_above = genuine.flip(0).cumsum(0).flip(0)
    correct = torch.zeros(n + 1, dtype=torch.long)
    correct[:n] = same_above + torch.arange(n) - genuine.cumsum(0) + genuine
    correct[n] = n - int(genuine.sum())
    # A split between two equal scores cannot be made: only where the value changes.
    allowed = torch.ones(n + 1, dtype=torch.bool)
    allowed[1:n] = values[1:] > values[:-1]
    best = int(torch.where(allowed, correct, -1).argmax())
    if best == 0:
        return float(values[0]) - 1.0
    if best == n:
        return float(values[-1]) + 1.0
    return float(values[best - 1] + values[best]) / 2


def kfold_accuracy(scores: torch.Tensor, same: torch.Tensor, folds: torch.Tensor
                   ) -> FoldResult:
    """LFW's k-fold verification accuracy; ``folds`` gives each pair's fold (0..k-1)."""
    accuracies, thresholds = [], []
    for fold in sorted(set(folds.tolist())):
        test = folds == fold
        t = best_threshold(scores[~test], same[~test]) if (~test).any() else 0.0
        accuracies.append(float(((scores[test] > t) == same[test]).double().mean()))
        thresholds.append(t)
    return FoldResult(accuracies, thresholds)


def tar_at_far(scores: torch.Tensor, same: torch.Tensor, far: float) -> float:
    """The true-accept rate at a false-accept rate of at most ``far``."""
    impostors = scores[~same].double().sort(descending=True).values
    genuine = scores[same].double()
    allowed = int(far * len(impostors))
    if allowed >= len(impostors):
        return 1.0
    return float((genuine > impostors[allowed]).double().mean())


def roc_curve(scores: torch.Tensor, same: torch.Tensor
              ) -> tuple[list[float], list[float], list[float]]:
    """(thresholds, FAR, TAR): accepting ``score >= threshold``, from the highest score down."""
    values = scores.double().unique().flip(0)
    genuine, impostors = scores[same].double(), scores[~same].double()
    tars = (genuine[None, :] >= values[:, None]).double().mean(1)
    fars = (impostors[None, :] >= values[:, None]).double().mean(1)
    return values.tolist(), fars.tolist(), tars.tolist()


def ranking_scores(scores: torch.Tensor, relevant: torch.Tensor) -> tuple[float, float]:
    """(rank-1, mAP) of queries (rows) ranking candidates (columns) by ``scores``;
    ``relevant``: the candidates of the query's identity. Queries with none are left out;
    a candidate scored -inf (the query itself) is never ranked first."""
    keep = relevant.any(1)
    scores, relevant = scores[keep].double(), relevant[keep]
    if not len(scores):
        return float("nan"), float("nan")
    order = scores.argsort(dim=1, descending=True, stable=True)
    hits = relevant.gather(1, order).double()
    rank1 = float(hits[:, 0].mean())
    precision = hits.cumsum(1) / torch.arange(1, hits.shape[1] + 1, dtype=torch.double)
    average_precision = (precision * hits).sum(1) / hits.sum(1)
    return rank1, float(average_precision.mean())


def identification(probes: torch.Tensor, probe_labels: torch.Tensor, gallery: torch.Tensor,
                   gallery_labels: torch.Tensor) -> tuple[float, float]:
    """(rank-1, mAP) of unit-length probe embeddings against a gallery, by cosine."""
    relevant = probe_labels[:, None] == gallery_labels[None, :]
    return ranking_scores(probes.double() @ gallery.double().T, relevant)


def leave_one_out(embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(recall@1, mAP) of every sample querying all the others (cosine)."""
    scores = embeddings.double() @ embeddings.double().T
    scores.fill_diagonal_(-torch.inf)
    relevant = labels[:, None] == labels[None, :]
    relevant.fill_diagonal_(False)
    return ranking_scores(scores, relevant)

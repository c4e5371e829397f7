"""Weighted k-nearest-neighbour classification of a backbone's features (kNN top-1).

The convention of Wu et al. 2018 (instance discrimination, arXiv:1805.01978) that SimCLR,
BYOL and solo-learn report: the L2-normalised pooled features of the (unaugmented) training
images are the memory; each test image's k most cosine-similar training images vote for
their labels with weight exp(cosine / T); the class with the largest vote is the
prediction. k = 200 as in InstDisc; T defaults to 0.1 (InstDisc and solo-learn's classifier
use 0.07, the kNN monitors of MoCo-style code 0.1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import data as D
from ..errors import ResnetsError
from .models import pooled_features

QUERY_CHUNK = 1024  # test images scored against the memory at once


def knn_predict(memory: torch.Tensor, memory_labels: torch.Tensor, queries: torch.Tensor,
                num_classes: int, k: int = 200, temperature: float = 0.1) -> torch.Tensor:
    """The predicted class of each query row, by temperature-weighted votes of its ``k``
    most cosine-similar memory rows (features need not be normalised)."""
    if k < 1:
        raise ResnetsError(f"kNN needs k >= 1 neighbours, got {k}")
    memory = F.normalize(memory.float(), dim=1)
    k = min(k, memory.shape[0])
    predictions = []
    for start in range(0, queries.shape[0], QUERY_CHUNK):
        q = F.normalize(queries[start:start + QUERY_CHUNK].float(), dim=1)
        similarity, index = (q @ memory.t()).topk(k, dim=1)
        votes = torch.zeros(q.shape[0], num_classes, device=q.device)
        votes.scatter_add_(1, memory_labels[index], (similarity / temperature).exp())
        predictions.append(votes.argmax(1))
    return torch.cat(predictions) if predictions else torch.zeros(0, dtype=torch.long)


@torch.no_grad()
def dataset_features(backbone: nn.Module, dataset: D.ArrayDataset, mean, std,
                     batch_size: int, device: torch.device) -> torch.Tensor:
    """Pooled features of every image of ``dataset`` (normalised by ``mean`` and ``std``),
    in evaluation mode, in order."""
    batches = D.InMemoryLoader(dataset, batch_size, shuffle=False, drop_last=False,
                               device=device, mean=mean, std=std)
    was_training = backbone.training
    backbone.eval()
    try:
        return torch.cat([pooled_features(backbone, images) for images, _ in batches])
    finally:
        backbone.train(was_training)


def knn_top1(backbone: nn.Module, train: D.ArrayDataset, test: D.ArrayDataset, mean, std,
             batch_size: int, device: torch.device, k: int = 200,
             temperature: float = 0.1) -> float:
    """The fraction of ``test`` images that kNN on ``train``'s features classifies right."""
    memory = dataset_features(backbone, train, mean, std, batch_size, device)
    queries = dataset_features(backbone, test, mean, std, batch_size, device)
    predicted = knn_predict(memory, train.labels.to(device), queries, len(train.classes), k,
                            temperature)
    return float((predicted == test.labels.to(device)).float().mean())

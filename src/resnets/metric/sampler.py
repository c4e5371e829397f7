"""P x K identity batches: every step takes P identities and K images of each.

The order of an epoch is a pure function of (seed, epoch), as the in-memory loader's is, so a
resumed run sees the batches it would have seen (the loader's state is its position). Each
step draws P identities without replacement, then K images of each: without replacement when
the identity has K or more, else with replacement (as pytorch-metric-learning's
``MPerClassSampler``). With several processes, each takes P / world_size whole identities.
"""

from __future__ import annotations

import torch

from ..data.base import ArrayDataset, derive_seed
from ..data.loader import InMemoryLoader
from ..errors import DataError


def identity_batches(labels: torch.Tensor, identities: int, k: int, steps: int,
                     generator: torch.Generator) -> torch.Tensor:
    """``steps`` x (``identities`` x ``k``) sample indices, flattened: each step's images of
    one identity side by side."""
    members = [torch.nonzero(labels == c).flatten() for c in range(int(labels.max()) + 1)]
    present = [i for i, m in enumerate(members) if len(m)]
    order = []
    for _ in range(steps):
        chosen = torch.randperm(len(present), generator=generator)[:identities]
        for slot in chosen.tolist():
            pool = members[present[slot]]
            if len(pool) >= k:
                pick = torch.randperm(len(pool), generator=generator)[:k]
            else:
                pick = torch.randint(len(pool), (k,), generator=generator)
            order.append(pool[pick])
    return torch.cat(order) if order else torch.zeros(0, dtype=torch.long)


class PKLoader(InMemoryLoader):
    """An :class:`~resnets.data.loader.InMemoryLoader` whose epochs are P x K batches;
    ``batch_size`` is each process's share (P / world_size identities x K)."""

    def __init__(self, dataset: ArrayDataset, batch_size: int, k: int, **options) -> None:
        world_size = options.get("world_size", 1)
        identities = int(dataset.labels.unique().numel())
        if batch_size % k:
            raise DataError(f"batch_size {batch_size * world_size} is not P x metric.k="
                            f"{k} for a whole number P of identities; make it a multiple of "
                            f"{k * world_size}")
        p = batch_size // k * world_size
        if p > identities:
            raise DataError(f"a batch of {p} identities x {k} images needs {p} identities "
                            f"but the training data has {identities}; lower batch_size or "
                            "raise metric.k")
        super().__init__(dataset, batch_size, shuffle=True, drop_last=True, **options)
        self.k, self.identities = k, p

    def epoch_order(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(derive_seed(self.seed, epoch))
        return identity_batches(self.dataset.labels, self.identities, self.k, len(self),
                                generator)

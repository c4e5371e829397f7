"""An in-memory loader that keeps a whole dataset on the training device (as airbench does).

Small datasets (digits, CIFAR: 150 MB as uint8) fit on any GPU, so rather than decoding and
copying images every step, the loader moves them to the device once and slices batches out of
them there. Its randomness is a pure function of (seed, epoch, batch index): the order of
epoch ``e`` comes from ``derive_seed(seed, e)`` and batch ``i``'s augmentation from
``derive_seed(seed, e, i, rank)``; a per-image policy (:mod:`~resnets.data.policies`) draws
under a seed of (seed, epoch, sample, copy). A run resumed from
:meth:`InMemoryLoader.state_dict` therefore sees exactly the batches it would have seen without
the interruption.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from ..errors import DataError
from .augment import normalize
from .base import ArrayDataset, derive_seed
from .policies import image_seed
from .sampling import epoch_samples, rank_share

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
PerImage = Callable[[torch.Tensor, list[int]], torch.Tensor]  # (uint8 batch, seeds) -> batch


class InMemoryLoader:
    """Batches of (float normalised N x C x H x W images, int64 labels) on ``device``.

    ``augment(batch, generator)`` receives each uint8 batch on the device and may return it as
    uint8 (0..255) or as float already scaled to 0..1; images are then converted to float32
    0..1 and, when ``mean`` and ``std`` are given (0..1 scale, e.g. from ``channel_stats``),
    normalised per channel. ``per_image(batch, seeds)`` (a
    :class:`~resnets.data.policies.PerImagePolicy`) then transforms each uint8 image under its
    own seed and returns float 0..1. ``repeats`` > 1 serves each drawn image that many times
    in a row (repeated augmentation, :mod:`~resnets.data.sampling`). With ``world_size`` > 1
    every step draws one global batch of ``batch_size * world_size`` samples and rank ``rank``
    gets its share of it.

    Iterating runs the current epoch from the current position; when an epoch runs out the
    loader moves on to the next one, so ``for epoch ...: for batch in loader`` just works.
    """

    def __init__(self, dataset: ArrayDataset, batch_size: int, *, shuffle: bool = True,
                 drop_last: bool = True, augment: Augment | None = None,
                 device: str | torch.device = "cpu", seed: int = 0,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 rank: int = 0, world_size: int = 1, per_image: PerImage | None = None,
                 repeats: int = 1) -> None:
        size = len(dataset)
        if not 0 <= rank < world_size:
            raise DataError(f"rank must be in 0..{world_size - 1} for world_size "
                            f"{world_size}, got {rank}")
        global_batch = batch_size * world_size
        if batch_size <= 0 or (drop_last and global_batch > size) or size == 0:
            raise DataError(f"batch size {batch_size} (x {world_size} processes) does not fit "
                            f"the dataset of {size} samples; use a batch size between 1 and "
                            f"{max(size // world_size, 1)}")
        if (mean is None) != (std is None):
            raise DataError("pass mean and std together (or neither, to skip normalisation)")
        self.dataset = dataset
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.augment, self.seed = augment, seed
        self.per_image, self.repeats = per_image, repeats
        self.rank, self.world_size = rank, world_size
        self.device = torch.device(device)
        self.images = dataset.images.to(self.device)
        self.labels = dataset.labels.to(self.device)
        self.mean, self.std = (None, None) if mean is None else (
            torch.as_tensor(mean, dtype=torch.float32, device=self.device),
            torch.as_tensor(std, dtype=torch.float32, device=self.device))
        self.epoch, self.position = 0, 0
        self._augment_gen = torch.Generator(device=self.device) if augment else None

    @property
    def classes(self) -> list[str]:
        return self.dataset.classes

    def __len__(self) -> int:
        """Batches per epoch (for this rank)."""
        rounding = math.floor if self.drop_last else math.ceil
        return rounding(len(self.dataset) / (self.batch_size * self.world_size))

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Make the next iteration run epoch ``epoch`` from batch ``start`` on."""
        if epoch < 0 or not 0 <= start <= len(self):
            raise DataError(f"cannot start epoch {epoch} at batch {start}: epochs count from 0 "
                            f"and an epoch has {len(self)} batches")
        self.epoch, self.position = epoch, start

    def state_dict(self) -> dict[str, int]:
        """Where iteration stands: the epoch and the index of the next batch in it."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "batch_size": self.batch_size, "world_size": self.world_size,
                "num_samples": len(self.dataset), "repeats": self.repeats}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume at the saved position; the data, batch size and seed must be unchanged."""
        for key in ("seed", "batch_size", "world_size", "num_samples", "repeats"):
            if key in state and state[key] != self.state_dict()[key]:
                raise DataError(f"loader state was saved with {key}={state[key]} but this "
                                f"loader has {key}={self.state_dict()[key]}; resume with the "
                                "same data and settings")
        self.set_epoch(int(state["epoch"]), int(state["position"]))

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """Indices of the samples of ``epoch``, in the order they are served (all ranks)."""
        if not self.shuffle:
            return torch.arange(len(self.dataset))
        generator = torch.Generator().manual_seed(derive_seed(self.seed, epoch))
        return torch.randperm(len(self.dataset), generator=generator)

    def epoch_samples(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(sample indices, copy numbers) of ``epoch`` in the order served (all ranks)."""
        order = self.epoch_order(epoch)
        if self.repeats == 1:
            return order, torch.zeros_like(order)
        served = len(self) * self.batch_size * self.world_size
        return epoch_samples(order, self.repeats, min(served, len(order)))  # as many as before

    def batch_indices(self, epoch: int, index: int) -> torch.Tensor:
        """This rank's sample indices for batch ``index`` of ``epoch``."""
        return self._rank_share(self.epoch_samples(epoch)[0], index)

    def _rank_share(self, order: torch.Tensor, index: int) -> torch.Tensor:
        global_batch = self.batch_size * self.world_size
        chunk = order[index * global_batch:(index + 1) * global_batch]
        return rank_share(chunk, self.rank, self.world_size, spread=self.repeats > 1)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, steps = self.epoch, len(self)
        order, copies = (t.to(self.device) for t in self.epoch_samples(epoch))
        while self.position < steps:
            index = self.position
            mine = self._rank_share(order, index)
            # Advance before yielding: a state saved while this batch is in use resumes after it.
            self.position = index + 1
            seeds = self._seeds(epoch, mine, self._rank_share(copies, index))
            yield self._prepare(self.images[mine], epoch, index, seeds), self.labels[mine]
        self.epoch, self.position = epoch + 1, 0

    def _seeds(self, epoch: int, samples: torch.Tensor, copies: torch.Tensor) -> list[int]:
        if self.per_image is None:
            return []
        return [image_seed(self.seed, epoch, sample, copy)
                for sample, copy in zip(samples.tolist(), copies.tolist())]

    def _prepare(self, batch: torch.Tensor, epoch: int, index: int, seeds: list[int]
                 ) -> torch.Tensor:
        if self.augment is not None:
            self._augment_gen.manual_seed(derive_seed(self.seed, epoch, index, self.rank))
            batch = self.augment(batch, self._augment_gen)
        if self.per_image is not None:  # uint8 images in, float 0..1 out
            if batch.dtype != torch.uint8:
                batch = (batch * 255).round().clamp(0, 255).to(torch.uint8)
            batch = self.per_image(batch, seeds)
        batch = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch.float()
        if self.mean is not None:
            batch = normalize(batch, self.mean, self.std)
        return batch

"""Training batches as a pure function of (seed, epoch, position), so a resumed run sees the
same ones, and each of several processes its share of every one.

Epoch ``e`` visits the images in the order ``randperm`` draws from a generator seeded with
``(seed, e)``; the augmentation of each (a flip, a crop, a policy) runs with the global torch
generator set to the seed of (seed, epoch, image, copy) (:func:`~resnets.data.policies.
image_seed`, as the in-memory loader draws), and the generator is put back afterwards.
So neither the order nor the augmentation depends on
where the run started, on ``workers``, on the number of processes, or on what else draws
random numbers, and loading never advances the random state of the training process (its
model's own draws, e.g. the RoI sampling of Faster R-CNN, are restored from the checkpoint).

With ``world_size`` processes every step's batch is the same global batch; process ``rank``
takes its share of it (``batch_size / world_size`` images; strided under repeated
augmentation, ``data.sampling``).

Worker processes are started once and kept for the whole run (``persistent_workers``): the
batch sampler reads the epoch and position at each iteration, and the seeds travel with the
indices, so a kept worker serves exactly what a fresh one would.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import Any

import torch

from ..errors import DataError
from .policies import image_seed
from .sampling import epoch_samples, rank_share

SEED_STRIDE = 1_000_003  # (seed, epoch) -> one generator seed: seed * SEED_STRIDE + epoch


class SeededItems(torch.utils.data.Dataset):
    """``dataset[index]`` computed under ``torch.manual_seed(seed)`` for keys ``(index, seed)``;
    the caller's random state is left as it was."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)  # the CPU generator only
            return self.dataset[index]


def check_global_batch(batch_size: int, world_size: int) -> None:
    """``batch_size`` is the global batch: it must split evenly over the processes."""
    if batch_size % world_size:
        raise DataError(f"batch_size {batch_size} is not divisible by the {world_size} "
                        "processes; it is the global batch")


def _ignore_interrupt(worker_id: int) -> None:
    """Workers leave Ctrl-C to the training process, which stops at a step boundary."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class StepLoader:
    """This process's share of the batches of ``dataset``, epoch by epoch, from any position.

    ``batch_size`` is the global batch (all processes together); ``len()`` is the number of
    steps per epoch. With ``drop_last`` the images left over by the last full batch of an epoch
    are not used in that epoch; so are they when they do not split evenly over the processes.
    Call :meth:`set_epoch` before iterating (the engine's loader contract). With ``workers``
    the processes are kept from epoch to epoch unless ``persistent_workers`` is False; each
    keeps ``prefetch_factor`` batches ready; ``pin_memory`` page-locks batches (for a GPU).
    ``repeats`` > 1 serves each drawn image that many times, each copy its own augmentation.
    """

    def __init__(self, dataset: torch.utils.data.Dataset, batch_size: int, seed: int,
                 workers: int = 0, collate_fn: Callable | None = None,
                 drop_last: bool = False, rank: int = 0, world_size: int = 1,
                 persistent_workers: bool = True, prefetch_factor: int = 2,
                 pin_memory: bool = False, repeats: int = 1) -> None:
        check_global_batch(batch_size, world_size)
        if drop_last and batch_size > len(dataset):
            raise DataError(f"batch size {batch_size} is larger than the {len(dataset)} "
                            "training images; lower --batch-size")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.workers, self.collate_fn, self.drop_last = workers, collate_fn, drop_last
        self.rank, self.world_size = rank, world_size
        self.persistent_workers, self.prefetch_factor = persistent_workers, prefetch_factor
        self.pin_memory = pin_memory  # page-locked batches: the copy to a GPU can overlap
        self.epoch, self.start, self.repeats = 0, 0, repeats
        self._loader: torch.utils.data.DataLoader | None = None  # kept: its workers live on
        if not len(self):
            raise DataError(f"the {len(dataset)} training images make no batch for "
                            f"{world_size} processes; use more images or fewer processes")

    def __len__(self) -> int:
        whole, rest = divmod(len(self.dataset), self.batch_size)
        keep_rest = rest and not self.drop_last and rest % self.world_size == 0
        return whole + 1 if keep_rest else whole

    def epoch_batches(self, epoch: int) -> list[list[tuple[int, int]]]:
        """The ``(index, augmentation seed)`` keys of every global batch of ``epoch``."""
        gen = torch.Generator().manual_seed(self.seed * SEED_STRIDE + epoch)
        order = torch.randperm(len(self.dataset), generator=gen)
        length = min(len(self) * self.batch_size, len(order))
        indices, copies = epoch_samples(order, self.repeats, length)
        keys = [(index, image_seed(self.seed, epoch, index, copy))
                for index, copy in zip(indices.tolist(), copies.tolist())]
        return [keys[i * self.batch_size:(i + 1) * self.batch_size] for i in range(len(self))]

    def share(self, batch: list) -> list:
        """This process's share of a global ``batch``: a consecutive slice, strided under
        repeats (the copies of an image go to different processes)."""
        if self.repeats > 1:
            positions = rank_share(torch.arange(len(batch)), self.rank, self.world_size, True)
            return [batch[k] for k in positions.tolist()]
        per = len(batch) // self.world_size
        return batch[self.rank * per:(self.rank + 1) * per]

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """The next iteration serves ``epoch`` from its batch ``start`` (0-based) on."""
        self.epoch, self.start = epoch, start

    def __iter__(self) -> Iterator:
        if self._loader is None or not self.persistent_workers:
            self._loader = self._build_loader()
        return iter(self._loader)

    def close(self) -> None:
        """Stop kept workers now (else they live until the loader is garbage-collected)."""
        iterator = getattr(self._loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
        self._loader = None

    def _build_loader(self) -> torch.utils.data.DataLoader:
        many = self.workers > 0
        return torch.utils.data.DataLoader(
            SeededItems(self.dataset), batch_sampler=_EpochBatches(self),
            num_workers=self.workers, collate_fn=self.collate_fn, pin_memory=self.pin_memory,
            persistent_workers=many and self.persistent_workers,
            prefetch_factor=self.prefetch_factor if many else None,
            worker_init_fn=_ignore_interrupt if many else None,
            # its own generator: the workers' base seed must not draw from the global one
            generator=torch.Generator().manual_seed(self.seed * SEED_STRIDE + self.epoch))


class _EpochBatches:
    """The batch sampler of a :class:`StepLoader`: its share of the current epoch's batches
    from its current position, read when iteration starts (so kept workers follow
    ``set_epoch``)."""

    def __init__(self, steps: StepLoader) -> None:
        self.steps = steps

    def __len__(self) -> int:
        return len(self.steps) - self.steps.start

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        s = self.steps
        return iter([s.share(b) for b in s.epoch_batches(s.epoch)[s.start:]])

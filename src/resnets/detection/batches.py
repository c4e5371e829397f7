"""Training batches as a pure function of (seed, step), so a resumed run sees the same ones.

Epoch ``e`` visits the images in the order ``randperm`` draws from a generator seeded with
``(seed, e)``, which also draws one seed per position of that order: the augmentation of the
image at that position (a flip, a crop) runs with the global torch generator set to that seed,
and the generator is put back afterwards. So neither the order nor the augmentation depends on
where the run started, on ``workers``, or on what else draws random numbers, and loading never
advances the random state of the training process (its model's own draws, e.g. the RoI
sampling of Faster R-CNN, are restored from the checkpoint).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import Any

import torch

from ..errors import DataError

SEED_STRIDE = 1_000_003  # (seed, epoch) -> one generator seed: seed * SEED_STRIDE + epoch


class _Seeded(torch.utils.data.Dataset):
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


def _ignore_interrupt(worker_id: int) -> None:
    """Workers leave Ctrl-C to the training process, which stops at a step boundary."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class StepLoader:
    """Batches of ``dataset`` from any step on, epoch after epoch.

    ``len()`` is the number of steps per epoch; with ``drop_last`` the images left over by the
    last full batch of an epoch are not used in that epoch.
    """

    def __init__(self, dataset: torch.utils.data.Dataset, batch_size: int, seed: int,
                 workers: int = 0, collate_fn: Callable | None = None,
                 drop_last: bool = False) -> None:
        if drop_last and batch_size > len(dataset):
            raise DataError(f"batch size {batch_size} is larger than the {len(dataset)} "
                            "training images; lower --batch-size")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.workers, self.collate_fn, self.drop_last = workers, collate_fn, drop_last

    def __len__(self) -> int:
        whole, rest = divmod(len(self.dataset), self.batch_size)
        return whole if self.drop_last or not rest else whole + 1

    def epoch_batches(self, epoch: int) -> list[list[tuple[int, int]]]:
        """The ``(index, augmentation seed)`` keys of every batch of ``epoch``."""
        gen = torch.Generator().manual_seed(self.seed * SEED_STRIDE + epoch)
        order = torch.randperm(len(self.dataset), generator=gen).tolist()
        seeds = torch.randint(2**62, (len(order),), generator=gen).tolist()
        keys = list(zip(order, seeds))
        return [keys[i * self.batch_size:(i + 1) * self.batch_size] for i in range(len(self))]

    def batches(self, start_step: int = 0) -> Iterator:
        """Endless batches, the first being that of step ``start_step + 1`` (1-based)."""
        epoch, position = divmod(start_step, len(self))
        while True:
            loader = torch.utils.data.DataLoader(
                _Seeded(self.dataset), batch_sampler=self.epoch_batches(epoch)[position:],
                num_workers=self.workers, collate_fn=self.collate_fn,
                worker_init_fn=_ignore_interrupt if self.workers else None,
                # its own generator: the workers' base seed must not draw from the global one
                generator=torch.Generator().manual_seed(self.seed * SEED_STRIDE + epoch))
            yield from loader
            epoch, position = epoch + 1, 0

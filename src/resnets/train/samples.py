"""What the pipelines of in-memory samples that are not images (speech clips, text ids) share.

Both read their whole data set into :class:`resnets.data.Samples` and serve it from the
training device through :class:`resnets.data.InMemoryLoader` (or a subclass): the settings
they refuse and their loaders are made here, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..data import InMemoryLoader, Samples
from ..errors import DataError
from .config import TrainConfig
from .pipeline import NonEmpty


def check_sample_settings(cfg: TrainConfig, what: str, root_hint: str) -> None:
    """Refuse, before a file is read, what a pipeline of ``what`` samples cannot serve."""
    if not cfg.data.root:
        raise DataError(f"data.root is empty: point it at {root_hint}")
    if cfg.data.mixup_alpha or cfg.data.cutmix_alpha or cfg.adv.method != "none":
        raise DataError("mixup, cutmix and adversarial training are for images; switch them "
                        f"off for {what}")


def sample_loaders(cfg: TrainConfig, train: Samples, evaluated: Sequence[Samples | None],
                   rank: int, world_size: int, loader: type[InMemoryLoader] = InMemoryLoader,
                   augment: tuple[Any, Any] = (None, None), **options: Any):
    """The training loader of ``train`` and one loader of each split in ``evaluated`` (None
    stays None).

    Each process takes its share of the global ``batch_size``; evaluation is sharded too, and
    under DDP a process's empty share of a short last batch is left out (:class:`NonEmpty`).
    ``augment`` is (training, evaluation); ``options`` go to every loader (device, mean, std).
    """
    training = loader(train, cfg.batch_size // world_size, shuffle=True, drop_last=True,
                      augment=augment[0], seed=cfg.seed, rank=rank, world_size=world_size,
                      **options)

    def evaluation(split: Samples):
        batches = loader(split, cfg.eval_batch_size, shuffle=False, drop_last=False,
                         augment=augment[1], rank=rank, world_size=world_size, **options)
        return NonEmpty(batches) if world_size > 1 else batches

    return training, [None if split is None else evaluation(split) for split in evaluated]

"""Image folders as metric-learning data: ``data.root`` holds ``train/`` and ``val/``, each
with one folder per identity (the layout ``resnets train`` reads); ``data.classes`` keeps some
identities, relabelled 0.. in order. Batches are shuffled (P x K batches from folders are not
built yet); every process embeds the whole ``val/`` split for the rankings."""

from __future__ import annotations

import torch

from .. import data as D
from ..errors import DataError
from ..train.pipeline import EpochLoader
from .config import MetricConfig, parse_classes


def keep_identities(ds: D.ImageFolderDataset, chosen: list[int]) -> None:
    """Keep the samples of the ``chosen`` labels in ``ds``, relabelled 0.. in that order."""
    relabel = {old: new for new, old in enumerate(chosen)}
    ds.samples = [(path, relabel[label]) for path, label in ds.samples if label in relabel]
    ds.classes = [ds.classes[c] for c in chosen]


def folder_data(cfg: MetricConfig, device: torch.device, rank: int, world_size: int):
    """The :class:`~resnets.metric.task.MetricData` of an image folder."""
    from .task import MetricData

    d = cfg.data
    if not d.root:
        raise DataError("data.root is empty: point it at the folder with train/ and val/ "
                        "subfolders of identity folders (data.root=/path/to/images)")
    splits = {split: D.ImageFolderDataset(d.root, split, transform=transform(d.image_size),
                                          skip_corrupt=d.skip_corrupt, check=d.check_images)
              for split, transform in (("train", D.imagenet_train_transform),
                                       ("val", D.imagenet_eval_transform))}
    train, val = splits["train"], splits["val"]
    if train.classes != val.classes:
        raise DataError(f"train/ and val/ under {d.root} hold different identity folders")
    chosen = parse_classes(d.classes, len(train.classes))
    skipped = [str(p) for p in train.skipped + val.skipped]
    keep_identities(train, chosen)
    keep_identities(val, chosen)
    loader = EpochLoader(train, cfg.batch_size // world_size, cfg.seed, d.workers, rank,
                         world_size, pin_memory=device.type == "cuda")
    evaluation = torch.utils.data.DataLoader(val, batch_size=cfg.eval_batch_size,
                                             num_workers=d.workers)
    return MetricData(loader, skipped, evaluation, None, list(train.classes), 3, d.image_size,
                      list(D.IMAGENET_MEAN), list(D.IMAGENET_STD))

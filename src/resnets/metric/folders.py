"""Image folders as metric-learning data: ``data.root`` holds ``train/`` and ``val/``, each
with one folder per identity (the layout ``resnets train`` reads); ``data.classes`` keeps some
identities, relabelled 0.. in order. Batches are shuffled (P x K batches from folders are not
built yet); every process embeds the whole ``val/`` split for the rankings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .. import data as D
from ..errors import DataError
from ..train.pipeline import file_loader
from ..train.task import TaskData
from .config import MetricConfig, parse_classes


@dataclass
class MetricData(TaskData):
    test: Any = None  # evaluation batches of the chosen identities' test images
    val: Any = None
    classes: list[str] = field(default_factory=list)  # the identities trained on
    in_chans: int = 3
    image_size: int = 32
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)


def keep_identities(ds: D.ImageFolderDataset, chosen: list[int]) -> None:
    """Keep the samples of the ``chosen`` labels in ``ds``, relabelled 0.. in that order."""
    relabel = {old: new for new, old in enumerate(chosen)}
    ds.samples = [(path, relabel[label]) for path, label in ds.samples if label in relabel]
    ds.classes = [ds.classes[c] for c in chosen]


def folder_data(cfg: MetricConfig, device: torch.device, rank: int, world_size: int):
    """The :class:`MetricData` of an image folder."""
    d = cfg.data
    if not d.root:
        raise DataError("data.root is empty: point it at the folder with train/ and val/ "
                        "subfolders of identity folders (data.root=/path/to/images)")
    splits = {split: D.ImageFolderDataset(d.root, split, transform=transform(d.image_size),
                                          skip_corrupt=d.skip_corrupt, check=d.check_images,
                                          decoder=d.decoder)
              for split, transform in (("train", D.imagenet_train_transform),
                                       ("val", D.imagenet_eval_transform))}
    train, val = splits["train"], splits["val"]
    if train.classes != val.classes:
        raise DataError(f"train/ and val/ under {d.root} hold different identity folders")
    chosen = parse_classes(d.classes, len(train.classes))
    skipped = [str(p) for p in train.skipped + val.skipped]
    keep_identities(train, chosen)
    keep_identities(val, chosen)
    loader = file_loader(cfg, train, device, rank, world_size)
    evaluation = torch.utils.data.DataLoader(val, batch_size=cfg.eval_batch_size,
                                             num_workers=d.workers)
    return MetricData(loader, skipped, evaluation, None, list(train.classes), 3, d.image_size,
                      list(D.IMAGENET_MEAN), list(D.IMAGENET_STD))

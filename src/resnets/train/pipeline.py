"""From a :class:`DataConfig` to loaders: the data a training run sees.

In-memory datasets (digits, synthetic, CIFAR) are held on the training device and augmented
batch by batch there; image folders and tar shards stream through a
:class:`~resnets.data.steps.StepLoader` (kept worker processes, prefetching, pinned memory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F

from .. import data as D
from ..data import policies
from ..data.decode import DeviceDecodedBatches, EncodedFiles, collate_encoded
from ..data.folder import SKIP_CORRUPT_FIX
from ..data.shards import TarShardDataset, shard_paths
from ..data.steps import StepLoader, check_global_batch
from ..errors import DataError
from .config import TrainConfig

DIGITS_TEST_FRACTION = 0.2  # share of the 1,797 digits held out as the test split
# data.dataset values whose pipelines live with their applications, which register them
# (register_pipeline) when imported: the package that registers each.
OTHER_PIPELINES: dict[str, Any] = {}
REGISTERING_PACKAGES = ("speech", "text")  # resnets.speech and resnets.text


def register_pipeline(dataset: str, build) -> None:
    """``build(cfg, device, rank, world_size) -> Pipeline`` reads ``data.dataset=dataset``."""
    OTHER_PIPELINES[dataset] = build


@dataclass
class Pipeline:
    """Everything the engine needs to know about the data."""

    train: Any  # iterable of (images, labels) batches with set_epoch(); len() = steps/epoch
    test: Any  # evaluation batches
    val: Any | None  # validation batches when data.val_size > 0
    classes: list[str]
    in_chans: int
    image_size: int  # side of the images the model sees, pixels
    mean: list[float] = field(default_factory=list)  # per-channel normalisation
    std: list[float] = field(default_factory=list)
    train_size: int = 0
    skipped: list[str] = field(default_factory=list)  # unreadable files left out (folders)


def load_arrays(cfg: TrainConfig) -> tuple[D.ArrayDataset, D.ArrayDataset]:
    """(train, test) in-memory datasets for digits, synthetic and CIFAR."""
    d = cfg.data
    if d.dataset == "digits":
        train = D.load_digits("train", test_fraction=DIGITS_TEST_FRACTION, seed=0)
        test = D.load_digits("test", test_fraction=DIGITS_TEST_FRACTION, seed=0)
    elif d.dataset == "synthetic":
        train = D.make_synthetic(num_samples=d.synthetic_size, seed=cfg.seed, split="train")
        test = D.make_synthetic(num_samples=max(d.synthetic_size // 4, 1), seed=cfg.seed,
                                split="test")
    else:
        if not d.root:
            raise DataError(f"data.root is empty: point it at the folder holding "
                            f"the {d.dataset} files (data.root=/path/to/data)")
        train = D.load_cifar(d.root, d.dataset, "train", download=d.download)
        test = D.load_cifar(d.root, d.dataset, "test", download=False)
    if d.resize:
        train, test = _resize(train, d.resize), _resize(test, d.resize)
    if d.train_fraction < 1:
        train = class_balanced_subset(train, d.train_fraction, seed=cfg.seed)
    return train, test


def class_balanced_subset(ds, fraction: float, seed: int):
    """``fraction`` of every class's samples (at least one each), drawn with ``seed``.

    ``ds`` has ``labels``, ``classes`` and ``subset(indices)``: images, clips or texts.
    """
    gen = torch.Generator().manual_seed(seed)
    keep = []
    for c in range(len(ds.classes)):
        idx = torch.nonzero(ds.labels == c).flatten()
        take = max(1, round(fraction * len(idx))) if len(idx) else 0
        keep.append(idx[torch.randperm(len(idx), generator=gen)[:take]])
    return ds.subset(torch.cat(keep).sort().values)


def _resize(ds: D.ArrayDataset, side: int) -> D.ArrayDataset:
    images = F.interpolate(ds.images.float(), size=(side, side), mode="bilinear",
                           align_corners=False)
    images = images.round().clamp(0, 255).to(torch.uint8)
    return D.ArrayDataset(images, ds.labels, ds.classes)


def _policy(cfg: TrainConfig):
    """The per-image v2 policy that ``data.policy`` names (None for none)."""
    d = cfg.data
    return policies.policy_transform(d.policy, d.randaugment_ops, d.randaugment_magnitude,
                                     d.autoaugment_policy, d.augmix_severity)


def augmentation(cfg: TrainConfig):
    kind = cfg.data.augment
    if kind == "auto":
        kind = {"cifar10": "cifar", "cifar100": "cifar", "digits": "crop"}.get(
            cfg.data.dataset, "none")
    if kind == "none":
        return None
    return D.CropFlip(cfg.data.crop_padding, flip=kind == "cifar")


def build_pipeline(cfg: TrainConfig, device: torch.device, rank: int = 0,
                   world_size: int = 1) -> Pipeline:
    """Read and check the data before any model is built.

    ``cfg.batch_size`` is the global batch: each of the ``world_size`` processes takes its
    share of every step's batch. Evaluation is sharded too: each process evaluates its share
    of a split (the engine adds up the counts).
    """
    check_global_batch(cfg.batch_size, world_size)
    if cfg.data.dataset in REGISTERING_PACKAGES:  # audio and text: their packages build them
        if cfg.data.dataset not in OTHER_PIPELINES:
            raise DataError(f"data.dataset={cfg.data.dataset} is read by its application "
                            f"package: import resnets.{cfg.data.dataset} first (the resnets "
                            "command does)")
        pipe = OTHER_PIPELINES[cfg.data.dataset](cfg, device, rank, world_size)
    elif cfg.data.dataset == "folder":
        pipe = _folder_pipeline(cfg, device, rank, world_size)
    elif cfg.data.dataset == "webdataset":
        pipe = _webdataset_pipeline(cfg, device, rank, world_size)
    else:
        pipe = _memory_pipeline(cfg, device, rank, world_size)
    wanted = cfg.model.num_classes
    if wanted and wanted != len(pipe.classes):
        raise DataError(f"model.num_classes={wanted} but the {cfg.data.dataset} data has "
                        f"{len(pipe.classes)} classes; set model.num_classes=0 to follow "
                        "the data")
    return pipe


def _memory_pipeline(cfg: TrainConfig, device: torch.device, rank: int,
                     world_size: int) -> Pipeline:
    train, test = load_arrays(cfg)
    val = None
    if cfg.data.val_size:
        train, val = D.split_train_val(train, cfg.data.val_size, seed=cfg.seed)
    per_rank = cfg.batch_size // world_size
    mean, std = D.channel_stats(train)
    common = dict(device=device, mean=mean, std=std)
    policy = _policy(cfg)
    per_image = policies.PerImagePolicy(policy, cfg.data.erasing, mean) if (
        policy is not None or cfg.data.erasing) else None
    loader = D.InMemoryLoader(train, per_rank, shuffle=True, drop_last=True,
                              augment=augmentation(cfg), seed=cfg.seed, rank=rank,
                              world_size=world_size, per_image=per_image,
                              repeats=cfg.data.repeated_aug, **common)

    def evaluation(ds):
        batches = D.InMemoryLoader(ds, cfg.eval_batch_size, shuffle=False, drop_last=False,
                                   rank=rank, world_size=world_size, **common)
        return NonEmpty(batches) if world_size > 1 else batches

    return Pipeline(loader, evaluation(test), evaluation(val) if val is not None else None,
                    list(train.classes), train.images.shape[1], train.images.shape[-1],
                    [float(m) for m in mean], [float(s) for s in std], len(train))


def _folder_pipeline(cfg: TrainConfig, device: torch.device, rank: int,
                     world_size: int) -> Pipeline:
    d = cfg.data
    if not d.root:
        raise DataError("data.root is empty: point it at the folder with train/ and val/ "
                        "subfolders of class folders (data.root=/path/to/images)")
    common = dict(skip_corrupt=d.skip_corrupt, check=d.check_images, decoder=d.decoder)
    train = D.ImageFolderDataset(d.root, "train", transform=_train_transform(cfg), **common)
    test = D.ImageFolderDataset(d.root, "val", transform=_eval_transform(cfg), **common)
    if train.classes != test.classes:
        raise DataError(f"train/ and val/ under {d.root} hold different class folders")
    if device.type == "cuda" and train.decoder == "torchvision":
        loader = device_decoded_loader(cfg, train, device, rank, world_size)
    else:
        loader = file_loader(cfg, train, device, rank, world_size)
    return _file_pipeline(cfg, device, rank, world_size, loader, train, test)


def _train_transform(cfg: TrainConfig):
    """Files' training transform: crop and flip, the policy, random erasing."""
    d = cfg.data
    return D.imagenet_train_transform(d.image_size, policy=_policy(cfg),
                                      erasing=policies.erasing_transform(d.erasing))


def _eval_transform(cfg: TrainConfig):
    """Files' evaluation transform: resize (``data.eval_resize``) and centre crop."""
    d = cfg.data
    return D.imagenet_eval_transform(d.eval_size or d.image_size, d.eval_resize or None)


def _webdataset_pipeline(cfg: TrainConfig, device: torch.device, rank: int,
                         world_size: int) -> Pipeline:
    d = cfg.data
    root = Path(d.root).expanduser()
    if d.root and (root / "train").is_dir():
        train_spec, val_spec = str(root / "train"), d.val_root or str(root / "val")
    elif d.root and not d.val_root:
        raise DataError("data.val_root is empty: name the evaluation shards (a directory or "
                        "pattern), or put train/ and val/ shard folders under data.root")
    else:
        train_spec, val_spec = d.root, d.val_root
    common = dict(skip_corrupt=d.skip_corrupt, check=d.check_images, decoder=d.decoder)
    train = TarShardDataset(shard_paths(train_spec), _train_transform(cfg), **common)
    test = TarShardDataset(shard_paths(val_spec), _eval_transform(cfg), classes=train.classes,
                           **common)
    loader = file_loader(cfg, train, device, rank, world_size)
    return _file_pipeline(cfg, device, rank, world_size, loader, train, test)


def file_loader(cfg: TrainConfig, train, device: torch.device, rank: int, world_size: int,
                **kw: Any) -> StepLoader:
    """The training batches of a file dataset: every epoch's global batches shared over the
    processes, its batches over ``data.workers`` kept processes (``data.steps``)."""
    d = cfg.data
    return StepLoader(train, cfg.batch_size, cfg.seed, d.workers, drop_last=True, rank=rank,
                      world_size=world_size, persistent_workers=d.persistent_workers,
                      prefetch_factor=d.prefetch_factor, pin_memory=device.type == "cuda",
                      repeats=d.repeated_aug, **kw)


def device_decoded_loader(cfg: TrainConfig, train, device: torch.device, rank: int,
                          world_size: int) -> DeviceDecodedBatches:
    """Workers read the files; the training device decodes and transforms each batch."""
    encoded = file_loader(cfg, EncodedFiles(train), device, rank, world_size,
                          collate_fn=collate_encoded)
    return DeviceDecodedBatches(encoded, train, train.transform, device, SKIP_CORRUPT_FIX)


def _file_pipeline(cfg: TrainConfig, device: torch.device, rank: int, world_size: int,
                   loader, train, test) -> Pipeline:
    d = cfg.data
    mine = test if world_size == 1 else torch.utils.data.Subset(
        test, range(rank, len(test), world_size))  # this process's share of the evaluation
    # Evaluation's workers start for each evaluation: kept, they would double the processes.
    evaluation = torch.utils.data.DataLoader(
        mine, batch_size=cfg.eval_batch_size, num_workers=d.workers,
        prefetch_factor=d.prefetch_factor if d.workers else None,
        pin_memory=device.type == "cuda")
    return Pipeline(loader, evaluation, None, list(train.classes), 3, d.eval_size or d.image_size,
                    list(D.IMAGENET_MEAN), list(D.IMAGENET_STD), len(train),
                    skipped=[str(p) for p in train.skipped + test.skipped])


class NonEmpty:
    """Evaluation batches without the empty ones (a process's share of a short last batch)."""

    def __init__(self, batches) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterable:
        return (batch for batch in self.batches if len(batch[1]))

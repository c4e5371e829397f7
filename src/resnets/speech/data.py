"""``data.dataset=speech``: a Speech Commands folder as a training pipeline.

The clips stay in memory as int16 (on the training device); every batch is shifted, mixed
with background noise (``data.augment=auto``; ``none`` turns both off), turned into log-mel
spectrograms and normalised with the training set's mean and standard deviation, all as
batched tensor operations. Settings used: ``data.root``, ``data.augment``,
``data.skip_corrupt`` (unreadable WAV files are counted and listed in the run's
``skipped.txt`` instead of stopping the run), ``batch_size``,
``eval_batch_size`` and ``seed``. The validation split is the folder's
``validation_list.txt`` (or the hash rule), so ``data.val_size`` is not used.
"""

from __future__ import annotations

import torch

from ..data import InMemoryLoader
from ..errors import DataError
from ..train.config import TrainConfig
from ..train.pipeline import NonEmpty, Pipeline, class_balanced_subset, register_pipeline
from .commands import load_speech_commands
from .features import AugmentConfig, FeatureConfig, Featurizer, spectrogram_stats

FEATURES = FeatureConfig()


def build_pipeline(cfg: TrainConfig, device: torch.device, rank: int = 0,
                   world_size: int = 1) -> Pipeline:
    d = cfg.data
    if not d.root:
        raise DataError("data.root is empty: point it at a Speech Commands folder (one folder "
                        "of WAV files per word), e.g. data.root=/data/speech_commands")
    if d.augment not in ("auto", "none"):
        raise DataError(f"data.augment={d.augment!r} is for images; speech takes auto (time "
                        "shift + background noise) or none")
    if d.mixup_alpha or d.cutmix_alpha or cfg.adv.method != "none":
        raise DataError("mixup, cutmix and adversarial training are for images; switch them "
                        "off for speech")
    data = load_speech_commands(d.root, FEATURES, skip_bad=d.skip_corrupt,
                                show_progress=rank == 0)
    train = data.train
    if d.train_fraction < 1:
        train = class_balanced_subset(train, d.train_fraction, seed=cfg.seed)
    plain = Featurizer(device, FEATURES)
    mean, std = spectrogram_stats(train.images, plain)
    augment = None if d.augment == "none" else AugmentConfig()
    per_rank = cfg.batch_size // world_size
    loader = InMemoryLoader(train, per_rank, shuffle=True, drop_last=True,
                            augment=Featurizer(device, FEATURES, augment, data.noise),
                            device=device, seed=cfg.seed, mean=[mean], std=[std], rank=rank,
                            world_size=world_size)

    def evaluation(split):
        batches = InMemoryLoader(split, cfg.eval_batch_size, shuffle=False, drop_last=False,
                                 augment=plain, device=device, mean=[mean], std=[std],
                                 rank=rank, world_size=world_size)
        return NonEmpty(batches) if world_size > 1 else batches

    val = evaluation(data.val) if len(data.val) else None
    return Pipeline(loader, evaluation(data.test), val, list(train.classes), 1,
                    FEATURES.frames, [mean], [std], len(train), skipped=data.skipped)


register_pipeline("speech", build_pipeline)

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

from ..errors import DataError
from ..train.config import TrainConfig
from ..train.pipeline import Pipeline, class_balanced_subset, register_pipeline
from ..train.samples import check_sample_settings, sample_loaders
from .commands import load_speech_commands
from .features import AugmentConfig, FeatureConfig, Featurizer, spectrogram_stats

FEATURES = FeatureConfig()


def build_pipeline(cfg: TrainConfig, device: torch.device, rank: int = 0,
                   world_size: int = 1) -> Pipeline:
    d = cfg.data
    check_sample_settings(cfg, "speech", "a Speech Commands folder (one folder of WAV files "
                          "per word), e.g. data.root=/data/speech_commands")
    if d.augment not in ("auto", "none"):
        raise DataError(f"data.augment={d.augment!r} is for images; speech takes auto (time "
                        "shift + background noise) or none")
    data = load_speech_commands(d.root, FEATURES, skip_bad=d.skip_corrupt,
                                show_progress=rank == 0)
    train = data.train
    if d.train_fraction < 1:
        train = class_balanced_subset(train, d.train_fraction, seed=cfg.seed)
    plain = Featurizer(device, FEATURES)
    mean, std = spectrogram_stats(train.images, plain)
    noisy = Featurizer(device, FEATURES, None if d.augment == "none" else AugmentConfig(),
                       data.noise)
    loader, (test, val) = sample_loaders(
        cfg, train, [data.test, data.val if len(data.val) else None], rank, world_size,
        augment=(noisy, plain), device=device, mean=[mean], std=[std])
    return Pipeline(loader, test, val, list(train.classes), 1, FEATURES.frames, [mean], [std],
                    len(train), skipped=data.skipped)


register_pipeline("speech", build_pipeline)

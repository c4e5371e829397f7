"""``data.dataset=text``: an AG News-style CSV folder as a training pipeline.

Every text becomes 1014 character ids once (uint8, kept on the training device); batches
are served as int64 ids by the same in-memory loader as the image datasets. Settings used:
``data.root``, ``data.val_size`` (training rows held out, stratified), ``data.skip_corrupt``
(rows that are not UTF-8 or carry an undeclared label are left out and listed in the run's
``skipped.txt`` instead of stopping the run; empty rows are always left out and listed),
``batch_size``, ``eval_batch_size`` and ``seed``. The pipeline's ``in_chans`` is the
vocabulary size, which the model's embedding takes.
"""

from __future__ import annotations

import torch

from ..data import InMemoryLoader, Samples, split_train_val
from ..train.config import TrainConfig
from ..train.pipeline import Pipeline, class_balanced_subset, register_pipeline
from ..train.samples import check_sample_settings, sample_loaders
from .csvdata import read_csv_dataset
from .vocab import Vocabulary

VOCABULARY = Vocabulary()


class TokenLoader(InMemoryLoader):
    """The in-memory loader, serving character ids as int64 instead of normalised floats."""

    def _prepare(self, batch: torch.Tensor, epoch: int, index: int, seeds: list[int]
                 ) -> torch.Tensor:
        return batch.long()


def build_pipeline(cfg: TrainConfig, device: torch.device, rank: int = 0,
                   world_size: int = 1) -> Pipeline:
    d = cfg.data
    check_sample_settings(cfg, "text", "a folder with train.csv and test.csv (label, title, "
                          "text per row), e.g. data.root=/data/ag_news")
    train_rows, test_rows, classes = read_csv_dataset(d.root, skip_bad=d.skip_corrupt)
    train = Samples(VOCABULARY.encode(train_rows.texts),
                    torch.tensor(train_rows.labels, dtype=torch.int64), classes)
    test = Samples(VOCABULARY.encode(test_rows.texts),
                   torch.tensor(test_rows.labels, dtype=torch.int64), classes)
    val = None
    if d.val_size:
        train, val = split_train_val(train, d.val_size, seed=cfg.seed)
    if d.train_fraction < 1:
        train = class_balanced_subset(train, d.train_fraction, seed=cfg.seed)
    loader, evaluation = sample_loaders(cfg, train, [test, val], rank, world_size,
                                        loader=TokenLoader, device=device)
    return Pipeline(loader, *evaluation, list(classes), len(VOCABULARY), VOCABULARY.length,
                    [], [], len(train), skipped=train_rows.problems + test_rows.problems)


register_pipeline("text", build_pipeline)

"""scikit-learn's 8 x 8 handwritten digits: the embedded default dataset (no files needed)."""

from __future__ import annotations

import torch

from ..errors import DataError, did_you_mean
from .base import ArrayDataset, split_train_val

_MAX_VALUE = 16  # the digits are counts of set pixels in 4 x 4 blocks: 0..16


def load_digits(split: str = "train", test_fraction: float = 0.2, seed: int = 0
                ) -> ArrayDataset:
    """The 1,797 digits as N x 1 x 8 x 8 uint8 images (0..16 scaled to 0..255).

    The test split holds ``round(test_fraction * 1797)`` images, stratified by class and
    chosen by ``seed``; train is the rest, so the two never overlap and the same seed always
    gives the same split.
    """
    if split not in ("train", "test"):
        raise DataError(f"unknown digits split {split!r}{did_you_mean(split, ['train', 'test'])}"
                        "; use 'train' or 'test'")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    from sklearn.datasets import load_digits as sklearn_digits  # slow import; only when used

    bunch = sklearn_digits()
    pixels = torch.from_numpy(bunch.images).double() * (255.0 / _MAX_VALUE)
    images = pixels.round().to(torch.uint8).unsqueeze(1)
    labels = torch.from_numpy(bunch.target).long()
    full = ArrayDataset(images, labels, [str(digit) for digit in range(10)])
    test_size = max(1, round(test_fraction * len(full)))
    train, test = split_train_val(full, test_size, seed)
    return train if split == "train" else test

"""The embedded datasets: scikit-learn digits and the seeded synthetic set."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from resnets.data.digits import load_digits
from resnets.data.synthetic import make_synthetic
from resnets.errors import DataError


@pytest.fixture(scope="module")
def digits():
    return load_digits("train"), load_digits("test")


def _rows(ds) -> Counter:
    return Counter((bytes(img.flatten().tolist()), int(y)) for img, y in zip(ds.images,
                                                                            ds.labels))


def test_digits_shapes_scaling_and_classes(digits):
    from sklearn.datasets import load_digits as sklearn_digits

    train, test = digits
    assert train.images.shape == (1438, 1, 8, 8) and test.images.shape == (359, 1, 8, 8)
    assert train.images.dtype == torch.uint8 and train.classes == [str(d) for d in range(10)]
    bunch = sklearn_digits()
    expected = torch.from_numpy(bunch.images * 255.0 / 16.0).round().to(torch.uint8)
    # Together the two splits hold every digit exactly once, scaled 0..16 -> 0..255.
    full = Counter((bytes(img.flatten().tolist()), int(y))
                   for img, y in zip(expected, bunch.target))
    assert _rows(train) + _rows(test) == full
    assert int(train.images.max()) == 255 and int(train.images.min()) == 0


def test_digits_split_is_stratified_and_seeded(digits):
    train, test = digits
    total = torch.bincount(train.labels, minlength=10) + torch.bincount(test.labels,
                                                                         minlength=10)
    share = torch.bincount(test.labels, minlength=10).double() / total.double()
    assert torch.all((share - 0.2).abs() < 0.01)
    again = load_digits("test", seed=0)
    other = load_digits("test", seed=1)
    assert torch.equal(again.images, test.images) and torch.equal(again.labels, test.labels)
    assert not torch.equal(other.images, test.images)
    assert len(load_digits("test", test_fraction=0.5)) == 898


def test_digits_bad_arguments():
    with pytest.raises(DataError, match="did you mean 'train'"):
        load_digits("trian")
    with pytest.raises(DataError, match="strictly between 0 and 1, got 1.0"):
        load_digits("train", test_fraction=1.0)


def test_synthetic_is_deterministic_and_balanced():
    first = make_synthetic(100, num_classes=7, image_size=12, channels=2, seed=5)
    second = make_synthetic(100, num_classes=7, image_size=12, channels=2, seed=5)
    assert first.images.shape == (100, 2, 12, 12) and first.images.dtype == torch.uint8
    assert torch.equal(first.images, second.images) and torch.equal(first.labels,
                                                                    second.labels)
    counts = torch.bincount(first.labels, minlength=7)
    assert int(counts.max()) - int(counts.min()) <= 1 and first.num_classes == 7
    other = make_synthetic(100, num_classes=7, image_size=12, channels=2, seed=6)
    assert not torch.equal(first.images, other.images)
    test = make_synthetic(100, num_classes=7, image_size=12, channels=2, seed=5, split="test")
    assert not torch.equal(first.images, test.images)


def test_synthetic_classes_are_learnable_from_train_to_test():
    train = make_synthetic(512, seed=0)
    test = make_synthetic(256, seed=0, split="test")
    x_train, x_test = train.images.float().flatten(1), test.images.float().flatten(1)
    centroids = torch.stack([x_train[train.labels == k].mean(0) for k in range(10)])
    accuracy = (torch.cdist(x_test, centroids).argmin(1) == test.labels).double().mean()
    assert accuracy > 0.9  # chance is 0.1
    # ...but no single pixel gives the class away: the pattern as a whole carries it.
    one_pixel = (x_test.unsqueeze(1) - centroids.unsqueeze(0)).abs().argmin(1)
    best_pixel = (one_pixel == test.labels.unsqueeze(1)).double().mean(0).max()
    assert best_pixel < 0.5


def test_synthetic_bad_arguments():
    with pytest.raises(DataError, match="num_classes must be at least 2, got 1"):
        make_synthetic(num_classes=1)
    with pytest.raises(DataError, match="did you mean 'test'"):
        make_synthetic(split="tset")

"""ArrayDataset validation, subsets and the stratified train/val split."""

from __future__ import annotations

import pytest
import torch

from resnets.data.base import ArrayDataset, split_train_val
from resnets.errors import DataError


def _dataset(labels: list[int], num_classes: int = 3) -> ArrayDataset:
    n = len(labels)
    # Image n is filled with the value n, so a subset's images reveal which samples it holds.
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()
    return ArrayDataset(images, torch.tensor(labels), [f"c{i}" for i in range(num_classes)])


def test_basic_properties_and_subset():
    ds = _dataset([0, 1, 2, 1, 0])
    assert len(ds) == 5 and ds.num_classes == 3 and ds.image_shape == (1, 2, 2)
    image, label = ds[3]
    assert label == 1 and int(image[0, 0, 0]) == 3
    sub = ds.subset([4, 0, 3])
    assert sub.labels.tolist() == [0, 0, 1]
    assert sub.images[:, 0, 0, 0].tolist() == [4, 0, 3]
    assert sub.classes == ds.classes and sub.classes is not ds.classes
    with pytest.raises(DataError, match="out of range"):
        ds.subset([5])


@pytest.mark.parametrize("images, labels, message", [
    (torch.zeros(2, 1, 2, 2), torch.tensor([0, 1]), "uint8"),
    (torch.zeros(2, 2, 2, dtype=torch.uint8), torch.tensor([0, 1]), "uint8 N x C x H x W"),
    (torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1], dtype=torch.int32),
     "int64"),
    (torch.zeros(3, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1]), "3 images but 2"),
    (torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 3]), r"0\.\.2"),
])
def test_invalid_contents_are_rejected(images, labels, message):
    with pytest.raises(DataError, match=message):
        ArrayDataset(images, labels, ["a", "b", "c"])


def test_split_is_stratified_disjoint_complete_and_seeded():
    labels = [0] * 50 + [1] * 30 + [2] * 20
    ds = _dataset(labels)
    train, val = split_train_val(ds, val_size=10, seed=3)
    assert len(train) == 90 and len(val) == 10
    assert torch.bincount(val.labels, minlength=3).tolist() == [5, 3, 2]
    train_ids = set(train.images[:, 0, 0, 0].tolist())
    val_ids = set(val.images[:, 0, 0, 0].tolist())
    assert not train_ids & val_ids and train_ids | val_ids == set(range(100))
    # Original order is kept, so ids ascend; labels still match their images.
    assert train.images[:, 0, 0, 0].tolist() == sorted(train_ids)
    for image, label in zip(val.images[:, 0, 0, 0].tolist(), val.labels.tolist()):
        assert labels[image] == label
    again = split_train_val(ds, val_size=10, seed=3)[1]
    other = split_train_val(ds, val_size=10, seed=4)[1]
    assert torch.equal(again.images, val.images)
    assert not torch.equal(other.images, val.images)


def test_split_leftover_places_follow_largest_remainders():
    # Exact shares of 4 places over counts 5/3/2 are 2.0/1.2/0.8: floors 2/1/0, the spare
    # place goes to class 2 (remainder 0.8 beats 0.2).
    ds = _dataset([0] * 5 + [1] * 3 + [2] * 2)
    _, val = split_train_val(ds, val_size=4, seed=0)
    assert torch.bincount(val.labels, minlength=3).tolist() == [2, 1, 1]


def test_cifar_sized_split_holds_out_500_per_class():
    labels = torch.arange(10).repeat_interleave(5000)
    ds = ArrayDataset(torch.zeros(50000, 1, 1, 1, dtype=torch.uint8), labels,
                      [str(i) for i in range(10)])
    train, val = split_train_val(ds, 5000, seed=0)
    assert len(train) == 45000
    assert torch.bincount(val.labels).tolist() == [500] * 10


def test_split_size_out_of_range():
    ds = _dataset([0, 1, 2])
    with pytest.raises(DataError, match="val_size must be in 0..2 for a dataset of 3"):
        split_train_val(ds, 3, seed=0)
    train, val = split_train_val(ds, 0, seed=0)
    assert len(train) == 3 and len(val) == 0


def test_derive_seed_separates_tuples_and_is_stable():
    from resnets.data.base import derive_seed

    seeds = {derive_seed(s, e, i) for s in range(3) for e in range(3) for i in range(3)}
    assert len(seeds) == 27 and all(0 <= s < 2**63 for s in seeds)
    assert derive_seed(1, 23) != derive_seed(12, 3)  # parts are delimited, not concatenated
    assert derive_seed(0, 1, 2) == derive_seed(0, 1, 2)

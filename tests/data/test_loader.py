"""InMemoryLoader: whole batches, seeded order, exact mid-epoch resume, rank sharding."""

from __future__ import annotations

import pytest
import torch

from resnets.data.augment import CropFlip
from resnets.data.base import ArrayDataset
from resnets.data.loader import InMemoryLoader
from resnets.errors import DataError


def _dataset(n: int = 50) -> ArrayDataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 6, 6), generator=generator, dtype=torch.uint8)
    # Pixel (0, 0, 0) of image k is k, so a batch tells which samples it holds.
    images[:, 0, 0, 0] = torch.arange(n, dtype=torch.uint8)
    return ArrayDataset(images, torch.arange(n) % 5, [str(i) for i in range(5)])


def _ids(images: torch.Tensor) -> list[int]:
    return (images[:, 0, 0, 0] * 255).round().long().tolist()


def _epoch(loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.clone(), y.clone()) for x, y in loader]


def test_one_epoch_serves_every_sample_once_as_float_batches():
    ds = _dataset(50)
    loader = InMemoryLoader(ds, 16, drop_last=False, seed=1)
    batches = _epoch(loader)
    assert len(loader) == 4 and [len(y) for _, y in batches] == [16, 16, 16, 2]
    ids = [i for x, _ in batches for i in _ids(x)]
    assert sorted(ids) == list(range(50)) and ids != list(range(50))  # shuffled, complete
    for x, y in batches:
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        for image, label in zip(x, y):
            k = int(round(float(image[0, 0, 0]) * 255))
            assert torch.allclose(image, ds.images[k].float() / 255) and label == ds.labels[k]


def test_drop_last_and_unshuffled_order():
    loader = InMemoryLoader(_dataset(50), 16, shuffle=False, drop_last=True)
    batches = _epoch(loader)
    assert len(loader) == len(batches) == 3
    assert [i for x, _ in batches for i in _ids(x)] == list(range(48))


def test_normalisation_uses_the_given_mean_and_std():
    ds = _dataset(10)
    mean, std = [0.5, 0.25, 0.1], [0.2, 0.5, 1.0]
    (x, _), = _epoch(InMemoryLoader(ds, 10, shuffle=False, mean=mean, std=std))
    expected = (ds.images.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(
        std).view(1, 3, 1, 1)
    assert torch.allclose(x, expected, atol=1e-6)


def test_epoch_order_depends_on_seed_and_epoch_only_and_epochs_advance():
    ds = _dataset(40)
    first = InMemoryLoader(ds, 8, seed=3)
    epoch0, epoch1 = _epoch(first), _epoch(first)  # the second loop is epoch 1
    assert first.epoch == 2
    assert _ids(torch.cat([x for x, _ in epoch0])) != _ids(torch.cat([x for x, _ in epoch1]))
    fresh = InMemoryLoader(ds, 8, seed=3)
    fresh.set_epoch(1)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(_epoch(fresh), epoch1))
    other_seed = InMemoryLoader(ds, 8, seed=4)
    assert _ids(next(iter(other_seed))[0]) != _ids(epoch0[0][0])


def test_augmentation_gets_uint8_batches_and_a_per_batch_generator():
    seen = []

    def record(batch, generator):
        seen.append((batch.dtype, generator.initial_seed()))
        return batch

    loader = InMemoryLoader(_dataset(40), 10, augment=record, seed=2)
    _epoch(loader)
    _epoch(loader)
    assert {dtype for dtype, _ in seen} == {torch.uint8}
    assert len({s for _, s in seen}) == 8  # a distinct stream for every (epoch, batch)


def test_resume_mid_epoch_reproduces_the_remaining_batches_exactly():
    ds = _dataset(64)
    options = dict(augment=CropFlip(padding=2), seed=9, mean=[0.5] * 3, std=[0.25] * 3)
    reference = InMemoryLoader(ds, 8, **options)
    reference.set_epoch(2)
    expected = _epoch(reference)

    interrupted = InMemoryLoader(ds, 8, **options)
    interrupted.set_epoch(2)
    iterator = iter(interrupted)
    for _ in range(3):
        next(iterator)
    state = interrupted.state_dict()  # saved while batch 2 is in use: resume at batch 3
    assert state["epoch"] == 2 and state["position"] == 3

    resumed = InMemoryLoader(ds, 8, **options)
    resumed.load_state_dict(state)
    rest = _epoch(resumed)
    assert len(rest) == len(expected) - 3
    for (x, y), (ex, ey) in zip(rest, expected[3:]):
        assert torch.equal(x, ex) and torch.equal(y, ey)
    assert resumed.state_dict()["epoch"] == 3 and resumed.state_dict()["position"] == 0
    # The augmentation really changed the images (so the comparison above is meaningful).
    plain = InMemoryLoader(ds, 8, seed=9, mean=[0.5] * 3, std=[0.25] * 3)
    plain.set_epoch(2)
    assert not torch.equal(_epoch(plain)[3][0], expected[3][0])


def test_state_from_a_different_setup_is_rejected():
    state = InMemoryLoader(_dataset(40), 8, seed=1).state_dict()
    with pytest.raises(DataError, match="saved with batch_size=8 but this loader has "
                                        "batch_size=4"):
        InMemoryLoader(_dataset(40), 4, seed=1).load_state_dict(state)
    loader = InMemoryLoader(_dataset(40), 8)
    with pytest.raises(DataError, match="an epoch has 5 batches"):
        loader.set_epoch(0, start=6)


def test_ranks_share_each_global_batch_without_overlap():
    ds = _dataset(60)
    single = InMemoryLoader(ds, 12, seed=5)
    ranks = [InMemoryLoader(ds, 6, seed=5, rank=r, world_size=2) for r in range(2)]
    assert len(single) == len(ranks[0]) == 5
    for (whole, _), (part0, _), (part1, _) in zip(single, ranks[0], ranks[1]):
        ids0, ids1 = _ids(part0), _ids(part1)
        assert len(ids0) == len(ids1) == 6 and not set(ids0) & set(ids1)
        assert ids0 + ids1 == _ids(whole)
    assert torch.equal(ranks[1].batch_indices(0, 0), torch.tensor(
        [int(i) for i in single.batch_indices(0, 0)[6:]]))


@pytest.mark.parametrize("batch_size, kwargs", [
    (0, {}), (-3, {}), (51, {}), (30, {"world_size": 2}),
])
def test_impossible_batch_sizes_name_the_dataset_size(batch_size, kwargs):
    with pytest.raises(DataError, match="does not fit the dataset of 50 samples") as info:
        InMemoryLoader(_dataset(50), batch_size, **kwargs)
    assert "\n" not in str(info.value)


def test_large_batch_without_drop_last_is_one_short_batch_and_argument_errors():
    loader = InMemoryLoader(_dataset(20), 64, drop_last=False, shuffle=False)
    assert len(loader) == 1 and _ids(next(iter(loader))[0]) == list(range(20))
    with pytest.raises(DataError, match="mean and std together"):
        InMemoryLoader(_dataset(20), 4, mean=[0.5] * 3)
    with pytest.raises(DataError, match="rank must be in 0..1"):
        InMemoryLoader(_dataset(20), 4, rank=2, world_size=2)

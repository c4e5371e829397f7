"""Repeated augmentation: copies in one global batch, epochs of the same length, and each
process's share disjoint from the others'."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from resnets.data.base import ArrayDataset
from resnets.data.loader import InMemoryLoader
from resnets.data.policies import PerImagePolicy, policy_transform
from resnets.data.sampling import epoch_samples, rank_share
from resnets.errors import DataError
from resnets.data.policies import image_seed
from resnets.data.steps import StepLoader


def indexed(n: int) -> ArrayDataset:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 8, 8), generator=gen, dtype=torch.uint8)
    return ArrayDataset(images, torch.arange(n), [str(k) for k in range(n)])


def test_each_drawn_index_comes_repeats_times_in_a_row_and_the_epoch_keeps_its_length():
    order = torch.randperm(20, generator=torch.Generator().manual_seed(1))
    indices, copies = epoch_samples(order, 3, 18)
    assert len(indices) == 18 and indices.tolist() == order[:6].repeat_interleave(3).tolist()
    assert copies.tolist() == [0, 1, 2] * 6
    with pytest.raises(DataError, match="data.repeated_aug"):
        epoch_samples(order, 0, 18)


def test_strided_shares_spread_copies_over_processes_and_cover_the_batch():
    chunk = torch.arange(12)
    shares = [rank_share(chunk, r, 3, spread=True) for r in range(3)]
    assert sorted(torch.cat(shares).tolist()) == list(range(12))
    assert shares[1].tolist() == [1, 4, 7, 10]
    assert rank_share(chunk, 1, 3, spread=False).tolist() == [4, 5, 6, 7]


def labels_by_step(loader):
    return [y.tolist() for _, y in loader]


def test_in_memory_repeats_fill_each_global_batch_with_copies_shared_across_ranks():
    ds, k = indexed(48), 4
    policy = PerImagePolicy(policy_transform("trivialaugment"))
    plain = InMemoryLoader(ds, 8, seed=2, world_size=1)
    ranks = [InMemoryLoader(ds, 4, seed=2, rank=r, world_size=2, repeats=k, per_image=policy)
             for r in range(2)]
    assert len(ranks[0]) == len(plain) == 6  # an epoch keeps its length in steps
    steps = list(zip(*[list(loader) for loader in ranks]))
    seen = Counter()
    for (x0, y0), (x1, y1) in steps:
        global_batch = y0.tolist() + y1.tolist()
        assert set(Counter(global_batch).values()) == {k}  # every drawn image k times
        assert set(y0.tolist()) == set(y1.tolist())  # the copies are spread over both ranks
        assert not torch.equal(x0, x1)  # and each copy is augmented on its own
        seen.update(global_batch)
    assert len(seen) == 48 // k  # a quarter of the images, each k times


def test_in_memory_repeats_resume_mid_epoch_on_the_same_batches():
    ds = indexed(40)
    policy = PerImagePolicy(policy_transform("randaugment"), erasing=0.5)
    straight = InMemoryLoader(ds, 8, seed=4, repeats=2, per_image=policy)
    straight.set_epoch(1)
    expected = [(x.clone(), y.clone()) for x, y in straight]
    resumed = InMemoryLoader(ds, 8, seed=4, repeats=2, per_image=policy)
    resumed.load_state_dict({**straight.state_dict(), "epoch": 1, "position": 2})
    for (x, y), (ex, ey) in zip(resumed, expected[2:], strict=True):
        assert torch.equal(x, ex) and torch.equal(y, ey)
    with pytest.raises(DataError, match="repeats=2"):
        InMemoryLoader(ds, 8, seed=4).load_state_dict(straight.state_dict())


class Keys(torch.utils.data.Dataset):
    """Stands in for an image folder: item k is k."""

    def __len__(self):
        return 30

    def __getitem__(self, index):
        return index


def test_folder_batches_under_repeats_are_disjoint_across_ranks_and_resume_exactly():
    whole = StepLoader(Keys(), 8, seed=1, drop_last=True, repeats=2)
    ranks = [StepLoader(Keys(), 8, seed=1, drop_last=True, rank=r, world_size=2, repeats=2)
             for r in range(2)]
    plain = StepLoader(Keys(), 8, seed=1, drop_last=True)
    assert len(whole) == len(ranks[0]) == len(plain) == 3
    everything = [key for batch in whole.epoch_batches(0) for key in batch]
    shares = [[key for batch in loader.epoch_batches(0) for key in loader.share(batch)]
              for loader in ranks]
    assert not set(shares[0]) & set(shares[1])  # disjoint (sample, seed) keys
    assert sorted(shares[0] + shares[1]) == sorted(everything)
    assert Counter(index for index, _ in everything) == Counter(
        {index: 2 for index, _ in everything})  # each drawn sample twice per epoch
    copies = {(index, seed) for index, seed in everything}
    assert copies == {(index, image_seed(1, 0, index, copy)) for index, _ in everything
                      for copy in (0, 1)}  # each copy its own augmentation seed
    first, second = (ranks[r].share(whole.epoch_batches(0)[0]) for r in range(2))
    assert {i for i, _ in first} == {i for i, _ in second}  # an image's copies spread over ranks
    ranks[1].set_epoch(0, start=1)
    rest = ranks[1].epoch_batches(0)[1:]
    assert [batch.tolist() for batch in ranks[1]] == [
        [index for index, _ in ranks[1].share(batch)] for batch in rest]

"""StepLoader: the batches of a step are a function of (seed, epoch, position), and the
processes' shares of a step make up its global batch."""

import pytest
import torch

from resnets.data.steps import StepLoader
from resnets.errors import DataError


class Draws(torch.utils.data.Dataset):
    """Item i is (i, a number drawn from the global generator): the augmentation's seed
    shows in it."""

    def __init__(self, size=10):
        self.size = size

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        return index, float(torch.rand(()))


def batches(loader, epoch, start=0):
    loader.set_epoch(epoch, start)
    return [(b[0].tolist(), b[1].tolist()) for b in loader]


def test_an_epoch_from_any_position_is_the_tail_of_the_whole_epoch():
    loader = StepLoader(Draws(), 4, seed=3)
    assert len(loader) == 3  # 4 + 4 + the 2 left over
    whole = batches(loader, epoch=1)
    assert batches(loader, epoch=1, start=2) == whole[2:]
    assert sorted(i for b in whole for i in b[0]) == list(range(10))
    assert batches(loader, epoch=2) != whole  # each epoch has its own order and draws
    state = torch.random.get_rng_state()
    batches(loader, epoch=1)
    assert torch.equal(torch.random.get_rng_state(), state)  # loading draws nothing here


def test_the_shares_of_two_processes_make_up_the_global_batch():
    whole = StepLoader(Draws(), 4, seed=3)
    shares = [StepLoader(Draws(), 4, seed=3, rank=r, world_size=2) for r in (0, 1)]
    assert len(shares[0]) == len(whole) == 3  # the 2 left over split evenly too
    for (index, draw), (i0, d0), (i1, d1) in zip(batches(whole, 0), batches(shares[0], 0),
                                                  batches(shares[1], 0)):
        assert len(i0) == len(i1) == len(index) // 2
        assert i0 + i1 == index and d0 + d1 == draw  # same images, same augmentation


def test_a_batch_that_does_not_split_is_refused_or_left_out():
    with pytest.raises(DataError, match="not divisible by the 3 processes"):
        StepLoader(Draws(), 4, seed=0, world_size=3)
    # The image left over by 2 batches of 4: one process takes it, two leave it out.
    assert len(StepLoader(Draws(9), 4, seed=0)) == 3
    assert len(StepLoader(Draws(9), 4, seed=0, world_size=2)) == 2
    with pytest.raises(DataError, match="make no batch for 2 processes"):
        StepLoader(Draws(1), 2, seed=0, world_size=2)

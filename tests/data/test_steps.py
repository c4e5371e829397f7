"""StepLoader: the batches of a step are a function of (seed, epoch, position), and the
processes' shares of a step make up its global batch."""

import os

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


class DrawsWithPid(Draws):
    def __getitem__(self, index):
        return index, float(torch.rand(())), os.getpid()


def test_kept_workers_serve_what_a_fresh_loader_serves_from_any_position():
    kept = StepLoader(DrawsWithPid(12), 4, seed=5, workers=2, prefetch_factor=1)
    fresh = StepLoader(DrawsWithPid(12), 4, seed=5, workers=0)
    kept.set_epoch(0)
    first = next(iter(kept))  # the epoch abandoned after one batch, as an interrupted run
    pids = set()
    for epoch, start in ((1, 1), (2, 0), (0, 2)):
        kept.set_epoch(epoch, start)
        fresh.set_epoch(epoch, start)
        served, expected = list(kept), list(fresh)
        assert [(b[0].tolist(), b[1].tolist()) for b in served] == [
            (b[0].tolist(), b[1].tolist()) for b in expected]
        assert len(served) == 3 - start
        pids |= {int(p) for b in served for p in b[2]}
    assert first[0].tolist() == [index for index, _ in fresh.epoch_batches(0)[0]]
    assert len(pids) <= 2 and os.getpid() not in pids  # the same two processes all along
    kept.close()
    assert all(not _alive(pid) for pid in pids)  # stopped at once, not when collected


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_workers_are_rebuilt_each_epoch_when_not_persistent():
    loader = StepLoader(DrawsWithPid(8), 4, seed=0, workers=1, persistent_workers=False)
    pids = set()
    for epoch in range(2):
        loader.set_epoch(epoch)
        pids |= {int(p) for b in loader for p in b[2]}
    assert len(pids) == 2

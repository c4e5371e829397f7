"""P x K identity batches: composition, determinism, resume and the share of each process."""

import pytest
import torch

from resnets.data.base import ArrayDataset
from resnets.errors import DataError
from resnets.metric.config import parse_classes
from resnets.metric.sampler import PKLoader
from resnets.metric.task import keep_classes


def dataset(per_class=(5, 5, 3, 8, 2)):
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(per_class)])
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 2, 2)
    return ArrayDataset(images.contiguous(), labels, [str(c) for c in range(len(per_class))])


def batches(loader):
    return [labels.tolist() for _, labels in loader]


def test_every_batch_is_p_identities_of_k_images():
    loader = PKLoader(dataset(), 6, 3, seed=1)  # P = 2 identities x K = 3
    assert len(loader) == 23 // 6
    for labels in batches(loader):
        groups = [labels[i:i + 3] for i in range(0, 6, 3)]
        assert all(len(set(g)) == 1 for g in groups)  # K images of one identity side by side
        assert groups[0][0] != groups[1][0]  # P different identities


def test_identities_with_k_images_or_more_are_drawn_without_replacement():
    ds = dataset((6, 6, 6))
    loader = PKLoader(ds, 8, 4, seed=0)
    for epoch in range(3):
        loader.set_epoch(epoch)
        for step in range(len(loader)):
            idx = loader.batch_indices(epoch, step)
            for group in idx.view(2, 4):
                assert len(set(group.tolist())) == 4


def test_the_order_depends_only_on_seed_and_epoch_and_resumes_mid_epoch():
    a, b = PKLoader(dataset(), 4, 2, seed=3), PKLoader(dataset(), 4, 2, seed=3)
    first = batches(a)
    assert first == batches(b)
    assert batches(a) != first  # the next epoch draws other batches
    resumed = PKLoader(dataset(), 4, 2, seed=3)
    resumed.load_state_dict({"epoch": 0, "position": 2})
    assert batches(resumed) == first[2:]
    assert batches(PKLoader(dataset(), 4, 2, seed=4)) != first


def test_each_process_takes_whole_identities_of_the_global_batch():
    whole = PKLoader(dataset(), 8, 2, seed=5)
    shares = [PKLoader(dataset(), 4, 2, seed=5, rank=r, world_size=2) for r in (0, 1)]
    for step in range(len(whole)):
        together = torch.cat([s.batch_indices(0, step) for s in shares])
        assert torch.equal(together, whole.batch_indices(0, step))


@pytest.mark.parametrize("batch, k, message", [
    (7, 2, "is not P x metric.k=2"), (12, 2, "needs 6 identities but the training data has 5"),
])
def test_impossible_batches_are_one_line(batch, k, message):
    with pytest.raises(DataError, match=message):
        PKLoader(dataset(), batch, k)


def test_class_filter_keeps_and_relabels_the_chosen_identities():
    ds = keep_classes(dataset(), parse_classes("1,3-4", 5))
    assert ds.classes == ["1", "3", "4"]
    assert ds.labels.tolist() == [0] * 5 + [1] * 8 + [2] * 2
    assert ds.images[0, 0, 0, 0] == 5  # the first image of class 1


@pytest.mark.parametrize("text, message", [("0-12", "outside the 10 classes"),
                                            ("a-3", "is not a label index"),
                                            ("5-2", "runs backwards; write the lower")])
def test_bad_class_filters_are_one_line(text, message):
    from resnets.errors import ResnetsError

    with pytest.raises(ResnetsError, match=message):
        parse_classes(text, 10)

"""The losses, the target's momentum and kNN of self-supervised pretraining, in closed form."""

import math

import pytest
import torch

from resnets.models import create_model
from resnets.selfsup.knn import knn_predict
from resnets.selfsup.models import (BYOL, byol_loss, nt_xent, symmetric_byol_loss,
                                    target_momentum)


def test_nt_xent_of_two_identical_orthogonal_pairs_is_its_closed_form():
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 3.0])  # length does not matter
    z = torch.stack([e1, e2, e1, e2])  # views 0, 1 then their second views 2, 3
    t = 0.5
    # Each view: its positive has cosine 1, its two negatives cosine 0.
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2))
    assert nt_xent(z, t).item() == pytest.approx(expected, rel=1e-6)


def test_nt_xent_counts_a_negative_as_close_as_the_positive():
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    assert nt_xent(z, 0.1).item() == pytest.approx(math.log(3), rel=1e-6)  # 1 of 3 alike


def test_byol_loss_is_two_minus_twice_the_cosine():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[2.0, 0.0], [-1.0, 0.0]])
    cos = torch.tensor([1.0, -1 / math.sqrt(2)])
    assert byol_loss(a, b).item() == pytest.approx((2 - 2 * cos).mean().item(), rel=1e-6)
    # Symmetric: the predictions of view 1 against the targets of view 2 and vice versa.
    c, d = torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([[1.0, 1.0], [0.0, -1.0]])
    online, target = torch.cat([a, b]), torch.cat([c, d])
    # (a, d): cosines 1/sqrt(2) and -1/sqrt(2), mean loss 2; (b, c): cosines 0 and -1, 3.
    assert symmetric_byol_loss((online, target)).item() == pytest.approx(5.0)


def test_target_momentum_rises_from_the_base_to_one_along_a_cosine():
    assert target_momentum(0.99, 0, 100) == pytest.approx(0.99)
    assert target_momentum(0.99, 50, 100) == pytest.approx(0.995)
    assert target_momentum(0.99, 25, 100) == pytest.approx(1 - 0.01 * (math.cos(
        math.pi / 4) + 1) / 2)
    assert target_momentum(0.99, 100, 100) == pytest.approx(1.0)


def test_target_update_moves_the_target_by_one_minus_the_momentum():
    net = BYOL(create_model("resnet20", num_classes=0), 8, 4, 8)
    with torch.no_grad():
        for p in net.backbone.parameters():
            p.add_(1.0)
    before = [p.clone() for p in net.target["backbone"].parameters()]
    online = [p.clone() for p in net.backbone.parameters()]
    net.update_target(0.75)
    for t, b, o in zip(net.target["backbone"].parameters(), before, online):
        assert torch.allclose(t, 0.75 * b + 0.25 * o)
    assert not any(p.requires_grad for p in net.target.parameters())


def test_knn_votes_are_weighted_by_the_exponential_of_the_cosine():
    memory = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.2]])
    labels = torch.tensor([0, 1, 1, 2])
    query = torch.tensor([[1.0, 0.05], [0.2, 1.0]])
    # k=3: the first query's neighbours are memory 0, 1 (cos ~1, ~0.99) and 2 (cos ~0.05):
    # class 1 has two votes but class 0's single vote outweighs them only at a low T.
    assert knn_predict(memory, labels, query, 3, k=3, temperature=0.01).tolist() == [0, 1]
    assert knn_predict(memory, labels, query, 3, k=3, temperature=10.0).tolist() == [1, 1]
    assert knn_predict(memory, labels, query, 3, k=1).tolist() == [0, 1]

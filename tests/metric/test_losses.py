"""The metric losses against closed forms and hand-made embeddings."""

import math

import pytest
import torch
import torch.nn.functional as F

from resnets.metric.losses import (MarginHead, batch_hard_triplet, margin_logits,
                                   semi_hard_negatives, semi_hard_triplet,
                                   supervised_contrastive)


def cosines_and_labels():
    gen = torch.Generator().manual_seed(0)
    e = F.normalize(torch.randn(6, 5, generator=gen))
    w = F.normalize(torch.randn(4, 5, generator=gen))
    return e @ w.T, torch.tensor([0, 1, 2, 3, 0, 1])


@pytest.mark.parametrize("kind", ["arcface", "cosface"])
def test_margin_zero_is_cross_entropy_of_scaled_cosines(kind):
    cos, labels = cosines_and_labels()
    logits = margin_logits(cos, labels, kind, scale=30.0, margin=0.0)
    assert torch.allclose(F.cross_entropy(logits, labels), F.cross_entropy(30.0 * cos, labels),
                          atol=1e-6)


def test_arcface_adds_the_angle_and_cosface_subtracts_the_cosine():
    cos, labels = cosines_and_labels()
    arc = margin_logits(cos, labels, "arcface", 10.0, 0.3)
    cosf = margin_logits(cos, labels, "cosface", 10.0, 0.3)
    target = cos.gather(1, labels[:, None]).squeeze(1)
    theta = target.clamp(-1 + 1e-7, 1 - 1e-7).acos()
    inside = theta + 0.3 < math.pi
    expected = torch.where(inside, torch.cos(theta + 0.3),
                           target - math.sin(math.pi - 0.3) * 0.3)
    assert torch.allclose(arc.gather(1, labels[:, None]).squeeze(1) / 10, expected, atol=1e-5)
    assert torch.allclose(cosf.gather(1, labels[:, None]).squeeze(1) / 10, target - 0.3,
                          atol=1e-6)
    others = torch.ones_like(cos, dtype=torch.bool).scatter(1, labels[:, None], False)
    assert torch.allclose(arc[others], 10 * cos[others]) and torch.allclose(cosf[others],
                                                                            10 * cos[others])


def test_arcface_beyond_pi_minus_m_keeps_falling():
    cos = torch.tensor([[-0.99, 0.5]])  # theta = 3.0 rad: theta + 0.5 passes pi
    logit = margin_logits(cos, torch.tensor([0]), "arcface", 1.0, 0.5)[0, 0]
    assert logit == pytest.approx(-0.99 - math.sin(math.pi - 0.5) * 0.5, abs=1e-6)
    assert logit < -0.99


def test_margin_head_normalises_weights_and_embeddings():
    head = MarginHead(3, 2, "cosface", 1.0, 0.0)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[2.0, 0, 0], [0, 5.0, 0]]))
    logits = head(torch.tensor([[3.0, 4.0, 0.0]]), torch.tensor([1]))
    assert torch.allclose(logits, torch.tensor([[0.6, 0.8]]))


# Four points on a line: identities 0 (x = 0, 1) and 1 (x = 3, 10).
LINE = torch.tensor([[0.0], [1.0], [3.0], [10.0]])
LINE_LABELS = torch.tensor([0, 0, 1, 1])


def test_batch_hard_takes_each_anchors_farthest_positive_and_closest_negative():
    # anchor 0: d+ = 1, d- = 3; anchor 1: 1, 2; anchor 2: 7, 2; anchor 3: 7, 9.
    expected = (max(1 - 3 + 2.5, 0) + max(1 - 2 + 2.5, 0) + max(7 - 2 + 2.5, 0)
                + max(7 - 9 + 2.5, 0)) / 4
    assert batch_hard_triplet(LINE, LINE_LABELS, 2.5).item() == pytest.approx(expected)


def test_batch_hard_ignores_anchors_without_a_positive():
    labels = torch.tensor([0, 0, 1, 2])  # anchors 2 and 3 have no positive
    expected = (max(1 - 3 + 1, 0) + max(1 - 2 + 1, 0)) / 2
    assert batch_hard_triplet(LINE, labels, 1.0).item() == pytest.approx(expected)


def test_semi_hard_picks_the_closest_negative_farther_than_the_positive():
    points = torch.tensor([[0.0], [2.0], [1.0], [3.0], [5.0]])
    labels = torch.tensor([0, 0, 1, 1, 1])
    from resnets.metric.losses import identity_masks, pairwise_distances

    dist = pairwise_distances(points)
    positive, negative = identity_masks(labels)
    chosen = semi_hard_negatives(dist, positive, negative)
    # anchor 0, positive 1 (d = 2): negatives at 1, 3, 5 -> the closest farther is 3
    assert chosen[0, 1].item() == pytest.approx(3.0, abs=1e-5)
    # anchor 1, positive 0 (d = 2): negatives at 1, 1, 3 -> 3
    assert chosen[1, 0].item() == pytest.approx(3.0, abs=1e-5)
    # anchor 4, positive 2 (d = 4): negatives at 5 and 3 -> 5
    assert chosen[4, 2].item() == pytest.approx(5.0, abs=1e-5)
    # anchor 2, positive 4 (d = 4): negatives at 1 and 1, none farther -> the farthest, 1
    assert chosen[2, 4].item() == pytest.approx(1.0, abs=1e-5)


def test_semi_hard_loss_is_the_mean_over_anchor_positive_pairs():
    points = torch.tensor([[0.0], [2.0], [1.0], [3.0]])
    labels = torch.tensor([0, 0, 1, 1])
    # (0,1): d 2, negs 1, 3 -> 3; (1,0): 2, negs 1, 1 -> none farther -> 1;
    # (2,3): 2, negs 1, 1 -> 1; (3,2): 2, negs 3, 1 -> 3.
    margin = 0.5
    expected = (max(2 - 3 + margin, 0) + max(2 - 1 + margin, 0) + max(2 - 1 + margin, 0)
                + max(2 - 3 + margin, 0)) / 4
    assert semi_hard_triplet(points, labels, margin).item() == pytest.approx(expected, abs=1e-5)


def test_supervised_contrastive_on_hand_made_embeddings():
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    t = 0.5
    # anchors 0 and 1: positive similarity 1, negative 0; anchor 2 has no positive.
    per_anchor = -math.log(math.exp(1 / t) / (math.exp(1 / t) + math.exp(0)))
    assert supervised_contrastive(z, labels, t).item() == pytest.approx(per_anchor, abs=1e-6)


def test_losses_give_finite_gradients_with_duplicate_embeddings():
    e = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1])
    for loss in (batch_hard_triplet(e, labels, 0.2), semi_hard_triplet(e, labels, 0.2),
                 supervised_contrastive(e, labels, 0.1)):
        (grad,) = torch.autograd.grad(loss, e)
        assert torch.isfinite(grad).all()


def test_margin_head_draws_its_weights_with_the_std_asked():
    torch.manual_seed(0)
    small, unit = MarginHead(64, 500, "arcface", 64.0, 0.5, weight_std=0.01), \
        MarginHead(64, 500, "arcface", 64.0, 0.5)
    assert small.weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert unit.weight.std().item() == pytest.approx(1.0, rel=0.02)

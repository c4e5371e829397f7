"""Mixup and CutMix: hand-computed blends and boxes, the loss against soft targets."""

import pytest
import torch
import torch.nn.functional as F

from resnets.data import mix
from resnets.errors import ResnetsError
from resnets.train.config import TrainConfig, apply_overrides
from resnets.train.objectives import build_objective


def test_mixup_blends_images_and_keeps_both_labels():
    images = torch.tensor([[[[0.0, 1.0]]], [[[10.0, 20.0]]]])  # 2 x 1 x 1 x 2
    labels = torch.tensor([3, 7])
    batch = mix.mixup(images, labels, 0.25, torch.tensor([1, 0]))
    assert torch.equal(batch.images, torch.tensor([[[[7.5, 15.25]]], [[[2.5, 5.75]]]]))
    assert batch.labels.tolist() == [3, 7] and batch.partner_labels.tolist() == [7, 3]
    assert batch.lam == 0.25


@pytest.mark.parametrize("lam, centre, box", [
    (0.75, (0.5, 0.5), (2, 6, 2, 6)),  # sides 8 * sqrt(0.25) = 4 around the centre
    (0.75, (0.0, 0.0), (0, 2, 0, 2)),  # clipped at the top-left corner
    (1.0, (0.3, 0.6), (2, 2, 4, 4)),  # lam 1: an empty box
])
def test_cutmix_box_by_hand(lam, centre, box):
    assert mix.cutmix_box(8, 8, lam, centre) == box


def test_cutmix_pastes_the_partner_box_and_corrects_lam_to_the_kept_area():
    images = torch.stack([torch.zeros(1, 8, 8), torch.ones(1, 8, 8)])
    batch = mix.cutmix(images, torch.tensor([0, 1]), 0.75, torch.tensor([1, 0]), (0.0, 0.0))
    expected = torch.zeros(1, 8, 8)
    expected[:, :2, :2] = 1
    assert torch.equal(batch.images[0], expected)
    assert torch.equal(batch.images[1], 1 - expected)
    assert batch.lam == pytest.approx(1 - 4 / 64)  # the clipped box holds 4 of 64 pixels
    assert images[0].sum() == 0  # the input batch is left as it was


def test_mixed_loss_equals_cross_entropy_with_blended_smoothed_targets():
    torch.manual_seed(0)
    logits = torch.randn(6, 5)
    labels, partners = torch.tensor([0, 1, 2, 3, 4, 0]), torch.tensor([4, 3, 2, 1, 0, 1])
    lam, smoothing = 0.3, 0.1

    def smoothed(y):  # timm's smoothed one-hot target
        return F.one_hot(y, 5).float() * (1 - smoothing) + smoothing / 5

    target = lam * smoothed(labels) + (1 - lam) * smoothed(partners)
    batch = mix.MixedBatch(torch.zeros(6, 1, 1, 1), labels, partners, lam)
    ours = mix.mixed_cross_entropy(logits, batch, smoothing)
    assert torch.allclose(ours, F.cross_entropy(logits, target), atol=1e-6)


def is_cut_and_paste(batch, images):
    """Every pixel comes whole from one of the two images of its pair."""
    partner = images[batch.partner_labels]  # the labels are 0..n-1: a label is its image
    return bool(((batch.images == images) | (batch.images == partner)).all())


def test_both_alphas_pick_mixup_or_cutmix_half_the_time():
    torch.manual_seed(0)
    images = torch.rand(4, 1, 8, 8)
    labels = torch.arange(4)
    kinds = [is_cut_and_paste(mix.random_mix(images, labels, 0.4, 1.0), images)
             for _ in range(200)]
    assert 80 <= sum(kinds) <= 120
    assert not any(is_cut_and_paste(mix.random_mix(images, labels, 0.4, 0.0), images)
                   for _ in range(20))


def test_engine_objective_is_the_seeded_mixed_loss():
    cfg = apply_overrides(TrainConfig(), {"data.mixup_alpha": "0.2",
                                          "optim.label_smoothing": "0.1"})
    objective = build_objective(cfg, [0.5], [0.5], num_classes=3)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    images, labels = torch.rand(5, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1])
    torch.manual_seed(3)
    loss, logits = objective(net, images, labels)
    torch.manual_seed(3)
    batch = mix.random_mix(images, labels, 0.2, 0.0)
    assert torch.equal(logits, net(batch.images))
    assert torch.equal(loss, mix.mixed_cross_entropy(net(batch.images), batch, 0.1))
    assert 0 < batch.lam < 1 and not torch.equal(batch.images, images)


def test_bad_alphas_are_refused():
    with pytest.raises(ResnetsError, match="positive"):
        mix.random_mix(torch.rand(2, 1, 2, 2), torch.tensor([0, 1]), 0.0, 0.0)
    with pytest.raises(ResnetsError, match="> 0"):
        mix.sample_lam(-1.0)


# ---- one-vs-all binary cross-entropy (optim.loss=bce) ----

def test_bce_of_unmixed_labels_is_torch_s_bce_with_logits_on_one_hot_targets():
    logits, labels = torch.randn(6, 5), torch.tensor([0, 4, 2, 2, 1, 3])
    unmixed = mix.MixedBatch(logits, labels, labels, 1.0)
    expected = torch.nn.BCEWithLogitsLoss()(logits, F.one_hot(labels, 5).float())
    assert torch.allclose(mix.mixed_binary_cross_entropy(logits, unmixed), expected)


def test_bce_of_a_mixed_batch_uses_the_blended_smoothed_and_thresholded_targets():
    logits = torch.randn(4, 10)
    batch = mix.MixedBatch(logits, torch.tensor([1, 2, 3, 4]), torch.tensor([5, 2, 7, 0]), 0.7)
    hot, partner = (F.one_hot(t, 10).float() for t in (batch.labels, batch.partner_labels))
    soft = 0.7 * hot + 0.3 * partner
    bce = torch.nn.BCEWithLogitsLoss()
    assert torch.allclose(mix.mixed_binary_cross_entropy(logits, batch), bce(logits, soft))
    smoothed = soft * 0.9 + 0.1 / 10  # the softmax smoothing's target distribution
    assert torch.allclose(mix.mixed_binary_cross_entropy(logits, batch, 0.1),
                          bce(logits, smoothed))
    both = (soft > 0.2).float()  # RSB: either mixed class above 0.2 counts as present
    assert both.sum(1).tolist() == [2, 1, 2, 2]
    assert torch.allclose(mix.mixed_binary_cross_entropy(logits, batch, 0.1, 0.2),
                          bce(logits, both))


@pytest.mark.parametrize("mixing", [{}, {"data.cutmix_alpha": "1.0"}])
def test_the_bce_objective_is_the_loss_of_the_net_s_logits(mixing):
    cfg = apply_overrides(TrainConfig(), {"optim.loss": "bce", **mixing})
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    images, labels = torch.randn(4, 3, 2, 2), torch.tensor([0, 1, 2, 1])
    torch.manual_seed(0)
    loss, logits = build_objective(cfg, [0.0] * 3, [1.0] * 3, 3)(net, images, labels)
    if not mixing:
        target = F.one_hot(labels, 3).float()
        assert torch.allclose(loss, F.binary_cross_entropy_with_logits(net(images), target))
    assert logits.shape == (4, 3) and loss.ndim == 0
    ce = build_objective(apply_overrides(cfg, {"optim.loss": "ce"}), [0.0] * 3, [1.0] * 3, 3)
    torch.manual_seed(0)
    assert not torch.allclose(ce(net, images, labels)[0], loss)

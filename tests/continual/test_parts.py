"""Continual learning pieces: task splits, replay memories, EWC, LwF and the scores."""

import math

import pytest
import torch
import torch.nn.functional as F

from resnets.continual import metrics
from resnets.continual.splits import class_order, split_tasks, task_classes
from resnets.continual.strategies import EWC, LwF, ReplayMemory, diagonal_fisher
from resnets.data import ArrayDataset
from resnets.errors import ResnetsError


def numbered(labels):
    """A dataset whose image n writes n in its first two pixels (so it names its source)."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    n = torch.arange(len(labels))
    images = torch.zeros(len(labels), 1, 2, 2, dtype=torch.uint8)
    images[:, 0, 0, 0], images[:, 0, 0, 1] = n // 256, n % 256
    return ArrayDataset(images, labels, [str(c) for c in range(int(labels.max()) + 1)])


def ids(ds):
    return (ds.images[:, 0, 0, 0].long() * 256 + ds.images[:, 0, 0, 1].long()).tolist()


def test_task_classes_split_the_order_evenly():
    assert task_classes(list(range(10)), 5) == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert task_classes([3, 1, 4, 0, 2], 2) == [(3, 1, 4), (0, 2)]
    assert [len(g) for g in task_classes(list(range(10)), 3)] == [4, 3, 3]
    with pytest.raises(ResnetsError, match="between 1 and 10"):
        task_classes(list(range(10)), 11)


def test_class_order_is_label_order_or_a_seeded_permutation():
    assert class_order(6, -1) == [0, 1, 2, 3, 4, 5]
    shuffled = class_order(100, 3)
    assert shuffled == class_order(100, 3) and sorted(shuffled) == list(range(100))
    assert shuffled != list(range(100)) and shuffled != class_order(100, 4)


def test_split_tasks_partitions_train_and_test_by_class():
    train, test = numbered([0, 1, 2, 3] * 5), numbered([3, 2, 1, 0] * 2)
    tasks = split_tasks(train, test, 2, order_seed=-1)
    assert [t.classes for t in tasks] == [(0, 1), (2, 3)]
    for task in tasks:
        assert set(task.train.labels.tolist()) == set(task.classes)
        assert set(task.test.labels.tolist()) == set(task.classes)
    assert sum(len(t.train) for t in tasks) == 20 and sum(len(t.test) for t in tasks) == 8
    # original order and labels kept: image n is still sample n of the full set
    assert ids(tasks[0].train) == [0, 1, 4, 5, 8, 9, 12, 13, 16, 17]


def test_balanced_memory_keeps_an_equal_share_of_every_class_seen():
    full = numbered([c for c in range(10) for _ in range(100)])
    memory = ReplayMemory(200, "balanced", seed=0)
    tasks = split_tasks(full, full, 5)
    memory.add(tasks[0].train)
    assert memory.class_counts() == {0: 100, 1: 100}
    first = [i for i, y in zip(ids(memory.data), memory.data.labels) if y == 0]
    for task in tasks[1:]:
        memory.add(task.train)
    assert memory.class_counts() == {c: 20 for c in range(10)}
    kept = [i for i, y in zip(ids(memory.data), memory.data.labels) if y == 0]
    assert kept == first[:20]  # an old class gives up places, it does not redraw them
    for image, label in zip(ids(memory.data), memory.data.labels):
        assert int(full.labels[image]) == int(label)  # stored pairs are real pairs


def test_balanced_memory_shares_an_indivisible_capacity():
    memory = ReplayMemory(7, "balanced", seed=1)
    memory.add(numbered([0] * 5 + [1] * 5 + [2] * 5))
    assert memory.class_counts() == {0: 3, 1: 2, 2: 2}


def test_reservoir_memory_is_a_uniform_sample_of_the_stream():
    full = numbered([c for c in range(5) for _ in range(200)])
    memory = ReplayMemory(100, "reservoir", seed=0)
    for task in split_tasks(full, full, 5):
        memory.add(task.train)
        assert len(memory) == min(100, memory.stream_seen)
    counts = memory.class_counts()
    assert memory.stream_seen == 1000 and sum(counts.values()) == 100
    assert all(10 <= counts[c] <= 30 for c in range(5)), counts  # expected 20 each
    assert len(set(ids(memory.data))) == 100  # no image twice


def tiny_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))


def test_diagonal_fisher_is_the_mean_squared_per_image_gradient():
    net = tiny_net()
    images, labels = torch.randn(6, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    fisher = diagonal_fisher(net, [(images[:4], labels[:4]), (images[4:], labels[4:])], 5)
    expected = {n: torch.zeros_like(p) for n, p in net.named_parameters()}
    for i in range(5):  # max_samples: the sixth image is left out
        net.zero_grad()
        F.cross_entropy(net(images[i:i + 1]), labels[i:i + 1]).backward()
        for n, p in net.named_parameters():
            expected[n] += p.grad.square() / 5
    for n in expected:
        assert torch.allclose(fisher[n], expected[n], atol=1e-6)


def test_ewc_penalty_is_zero_at_the_anchor_and_quadratic_away_from_it():
    net = tiny_net()
    ewc = EWC(strength=4.0, fisher_samples=10)
    assert ewc.penalty(net, None, None) == 0.0
    ewc.after_task(net, None, [(torch.randn(8, 1, 2, 2), torch.randint(0, 3, (8,)))])
    assert ewc.penalty(net, None, None).item() == 0.0
    fisher = ewc.anchors[0][0]["1.weight"] / 4.0  # stored as lambda * F
    with torch.no_grad():
        net[1].weight[1, 2] += 0.5
    # (lambda / 2) * F * delta^2 for the one weight moved
    expected = 0.5 * 4.0 * fisher[1, 2] * 0.25
    assert torch.allclose(ewc.penalty(net, None, None), expected)
    ewc.after_task(net, None, [(torch.randn(8, 1, 2, 2), torch.randint(0, 3, (8,)))])
    assert torch.allclose(ewc.penalty(net, None, None), expected)  # the new anchor adds 0


def test_ewc_caps_the_curvature_of_each_weight():
    net = tiny_net()
    batches = [(torch.randn(8, 1, 2, 2) * 10, torch.randint(0, 3, (8,)))]
    free, capped = EWC(1e6, 10), EWC(1e6, 10, max_curvature=20.0)
    free.after_task(net, None, batches)
    capped.after_task(net, None, batches)
    assert free.anchors[0][0]["1.weight"].max() > 20.0
    for n, w in free.anchors[0][0].items():
        assert torch.equal(capped.anchors[0][0][n], w.clamp(max=20.0))
    with torch.no_grad():
        net[1].bias += 0.1
    expected = 0.5 * (capped.anchors[0][0]["1.bias"] * 0.01).sum()
    assert torch.allclose(capped.penalty(net, None, None), expected)


def test_lwf_distils_only_the_old_classes_from_the_frozen_copy():
    net = tiny_net()
    lwf = LwF(alpha=2.0, temperature=2.0)
    task = type("T", (), {"classes": (0, 1)})
    lwf.before_task(net, task)
    images = torch.randn(5, 1, 2, 2)
    assert lwf.penalty(net, images, net(images)) == 0.0  # nothing to remember yet
    lwf.before_task(net, type("T", (), {"classes": (2,)}))
    assert lwf.old_classes == [0, 1]
    assert lwf.penalty(net, images, net(images)).item() == pytest.approx(0.0, abs=1e-7)
    logits = net(images).detach()
    shifted = logits.clone()
    shifted[:, 2] += 5.0  # a new class's output does not enter the distillation
    assert float(lwf.penalty(net, images, shifted)) == pytest.approx(0.0, abs=1e-7)
    moved = logits.clone()
    moved[:, 0] += 1.0
    p_old = (logits[:, :2] / 2).softmax(1)
    p_new = (moved[:, :2] / 2).softmax(1)
    kl = (p_old * (p_old.log() - p_new.log())).sum(1).mean()
    assert float(lwf.penalty(net, images, moved)) == pytest.approx(float(2.0 * 4 * kl),
                                                                    rel=1e-5)


# R[i][j]: accuracy on task j after training task i. Task 1 peaks after task 2.
R = [[0.6, 0.0, 0.0],
     [0.8, 0.9, 0.1],
     [0.5, 0.4, 0.7]]


def test_scores_of_a_hand_made_matrix():
    assert metrics.average_accuracy(R) == pytest.approx((0.5 + 0.4 + 0.7) / 3)
    assert metrics.average_accuracy(R, 0) == pytest.approx(0.6)
    assert metrics.average_accuracy(R, 1) == pytest.approx(0.85)
    # forgetting: task 1 from its best 0.8 to 0.5, task 2 from 0.9 to 0.4
    assert metrics.forgetting(R) == pytest.approx((0.3 + 0.5) / 2)
    assert metrics.forgetting(R, 1) == pytest.approx(-0.2)  # task 1 improved: 0.6 -> 0.8
    assert metrics.forgetting(R, 0) == 0.0
    # backward transfer: against the accuracy right after each task (0.6 and 0.9)
    assert metrics.backward_transfer(R) == pytest.approx(((0.5 - 0.6) + (0.4 - 0.9)) / 2)
    summary = metrics.summarise(R)
    assert summary["average_accuracy_per_task"] == pytest.approx([0.6, 0.85, 1.6 / 3])
    assert math.isclose(summary["forgetting"], 0.4)


def test_scores_of_a_partial_and_a_bad_matrix():
    assert metrics.average_accuracy(R[:2]) == pytest.approx(0.85)
    assert metrics.backward_transfer(R[:2]) == pytest.approx(0.8 - 0.6)
    with pytest.raises(ResnetsError, match="one row per task"):
        metrics.average_accuracy([[0.5, 0.5], [0.5]])
    with pytest.raises(ResnetsError, match="one row per task"):
        metrics.forgetting([])

"""Confusion-matrix IoU on hand-made masks, and equality with torchmetrics."""

import math

import pytest
import torch
from torchmetrics.classification import MulticlassJaccardIndex

from resnets.segmentation.metrics import SegmentationScore, confusion_matrix, iou_per_class


def test_two_by_two_masks_by_hand():
    target = torch.tensor([[0, 0], [1, 1]])
    pred = torch.tensor([[0, 1], [1, 1]])
    assert confusion_matrix(pred, target, 2).tolist() == [[1, 1], [0, 2]]
    # class 0: 1 hit / union 2; class 1: 2 hits / union 3
    assert iou_per_class(confusion_matrix(pred, target, 2)).tolist() == pytest.approx(
        [1 / 2, 2 / 3])


def test_ignored_pixels_and_absent_classes_count_nowhere():
    target = torch.tensor([[0, 255, 1], [1, 1, 255]])
    pred = torch.tensor([[0, 2, 1], [1, 0, 2]])
    score = SegmentationScore(4, ["bg", "a", "b", "c"])
    score.update(pred, target)
    result = score.compute()
    # bg: hit 1, union 2 (one 'a' pixel predicted bg); a: 2 hits of 3; b: predicted only on
    # ignored pixels, so absent; c: absent
    assert result["iou"]["bg"] == pytest.approx(0.5)
    assert result["iou"]["a"] == pytest.approx(2 / 3)
    assert math.isnan(result["iou"]["b"]) and math.isnan(result["iou"]["c"])
    assert result["miou"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert result["pixel_accuracy"] == pytest.approx(3 / 4)


def test_batches_accumulate_and_match_torchmetrics():
    torch.manual_seed(0)
    target = torch.randint(0, 5, (3, 16, 16))
    pred = torch.where(torch.rand(3, 16, 16) < 0.6, target, torch.randint(0, 5, (3, 16, 16)))
    score = SegmentationScore(5)
    for p, t in zip(pred, target):
        score.update(p, t)
    reference = MulticlassJaccardIndex(num_classes=5, average=None)(pred, target)
    got = torch.tensor(list(score.compute()["iou"].values()), dtype=torch.float64)
    torch.testing.assert_close(got, reference.double(), rtol=1e-6, atol=1e-6)

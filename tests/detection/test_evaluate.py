"""COCO mAP through pycocotools on hand-made boxes with known answers."""

import pytest
import torch

from resnets.data.coco import CocoSet
from resnets.detection.evaluate import coco_map, to_results


def _truth(boxes):
    images = [{"id": 1, "file_name": "a.png", "width": 100, "height": 100}]
    annotations = [{"id": k, "image_id": 1, "category_id": 1, "bbox": box,
                    "area": box[2] * box[3], "iscrowd": 0} for k, box in enumerate(boxes, 1)]
    return CocoSet(images, annotations, [{"id": 1, "name": "thing"}])


def _det(box, score):
    return {"image_id": 1, "category_id": 1, "bbox": box, "score": score}


def test_perfect_detections_score_one():
    truth = _truth([[10, 10, 40, 40], [60, 60, 30, 30]])
    stats = coco_map(truth, [_det([10, 10, 40, 40], 0.9), _det([60, 60, 30, 30], 0.8)])
    assert stats["map"] == pytest.approx(1.0) and stats["map50"] == pytest.approx(1.0)


def test_a_box_of_iou_072_counts_at_five_of_ten_thresholds():
    # truth 40x40, detection 40x28.8 inside it: IoU = 28.8 / 40 = 0.72, matched at
    # IoU thresholds 0.50, 0.55, 0.60, 0.65, 0.70 and missed at 0.75 ... 0.95
    stats = coco_map(_truth([[10, 10, 40, 40]]), [_det([10, 10, 40, 28.8], 0.9)])
    assert stats["map50"] == pytest.approx(1.0)
    assert stats["map75"] == pytest.approx(0.0)
    assert stats["map"] == pytest.approx(0.5)


def test_a_false_positive_ranked_first_halves_the_precision():
    # ranking FP, TP: precision 1/2 at recall 1, so every interpolated precision is 1/2
    stats = coco_map(_truth([[10, 10, 40, 40]]),
                     [_det([60, 60, 20, 20], 0.9), _det([10, 10, 40, 40], 0.8)])
    assert stats["map50"] == pytest.approx(0.5)
    # ranked after the true positive, the false positive costs nothing
    stats = coco_map(_truth([[10, 10, 40, 40]]),
                     [_det([60, 60, 20, 20], 0.7), _det([10, 10, 40, 40], 0.8)])
    assert stats["map50"] == pytest.approx(1.0)


def test_no_detections_score_zero():
    assert coco_map(_truth([[10, 10, 40, 40]]), [])["map"] == 0.0


def test_model_outputs_become_coco_results():
    output = {"boxes": torch.tensor([[10.0, 20.0, 50.0, 30.0]]),
              "scores": torch.tensor([0.75]), "labels": torch.tensor([2])}
    assert to_results(output, 4, [3, 8]) == [
        {"image_id": 4, "category_id": 8, "bbox": [10.0, 20.0, 40.0, 10.0], "score": 0.75}]

"""COCO mean average precision of a detector, computed by pycocotools' ``COCOeval``.

Our code only turns model outputs into COCO result entries; the matching, the 101-point
interpolated precision and the averaging over IoU thresholds 0.50:0.05:0.95 are
pycocotools', so the numbers are the ones the COCO leaderboards print.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import torch
from torch import nn

from ..data.coco import CocoSet, DetectionDataset, collate

# COCOeval.stats, in order (area ranges: small < 32^2 <= medium < 96^2 <= large pixels)
STAT_NAMES = ("map", "map50", "map75", "map_small", "map_medium", "map_large",
              "mar1", "mar10", "mar100", "mar_small", "mar_medium", "mar_large")


def coco_map(coco: CocoSet, results: list[dict[str, Any]]) -> dict[str, float]:
    """COCOeval's twelve box statistics of ``results`` against ``coco``'s annotations.

    ``results`` are COCO result entries: image_id, category_id, bbox [x, y, w, h], score.
    No detections at all scores 0 everywhere. A statistic with no ground truth in its area
    range is -1, as COCOeval reports it.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not results:
        return dict.fromkeys(STAT_NAMES, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints as it goes
        truth = COCO()
        truth.dataset = {**coco.to_dict(),
                         "annotations": [{**a, "id": a.get("id", k)}
                                         for k, a in enumerate(coco.annotations, 1)]}
        truth.createIndex()
        detections = truth.loadRes([dict(r) for r in results])
        evaluator = COCOeval(truth, detections, iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(value) for name, value in zip(STAT_NAMES, evaluator.stats)}


def to_results(output: dict[str, torch.Tensor], image_id: Any,
               category_ids: list[int]) -> list[dict[str, Any]]:
    """One image's detector output (x0 y0 x1 y1 boxes, 1-based labels) as COCO results."""
    entries = []
    for box, score, label in zip(output["boxes"].tolist(), output["scores"].tolist(),
                                 output["labels"].tolist()):
        x0, y0, x1, y1 = box
        entries.append({"image_id": image_id, "category_id": category_ids[label - 1],
                        "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2),
                                 round(y1 - y0, 2)],
                        "score": round(score, 5)})
    return entries


@torch.no_grad()
def detect(model: nn.Module, images: list[torch.Tensor],
           device: torch.device) -> list[dict[str, torch.Tensor]]:
    """The detector's boxes, scores and labels for each image, on the CPU."""
    model.eval()
    outputs = model([image.to(device) for image in images])
    return [{k: v.cpu() for k, v in out.items()} for out in outputs]


def evaluate_detector(model: nn.Module, dataset: DetectionDataset, device: torch.device,
                      batch_size: int = 4) -> dict[str, float]:
    """COCO box mAP of ``model`` on ``dataset`` (its images and its annotations)."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=collate)
    category_ids = dataset.coco.category_ids
    results = []
    for images, targets in loader:
        for output, target in zip(detect(model, images, device), targets):
            image_id = dataset.coco.images[int(target["image_id"])]["id"]
            results += to_results(output, image_id, category_ids)
    return coco_map(dataset.coco, results)

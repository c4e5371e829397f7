"""COCO annotations, now :mod:`resnets.data.coco` (the synthetic shapes write them too).

The names stay importable from here for code written against ``resnets.detection.coco``.
"""

from ..data.coco import CocoSet, DetectionDataset, collate, read_coco, write_coco

__all__ = ["CocoSet", "DetectionDataset", "collate", "read_coco", "write_coco"]

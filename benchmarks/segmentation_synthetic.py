"""Benchmark: DeepLabV3 (dilated ResNet-18, from scratch, AdamW) on the synthetic shapes, on a CPU.

The target: mean IoU >= 0.6 on the validation split within 10 minutes of wall time, data
generation included. Writes benchmarks/results/segmentation_synthetic.json.

    OMP_NUM_THREADS=1 python benchmarks/segmentation_synthetic.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from resnets.bench.suite import machine
from resnets.data.shapes import ShapesConfig, write_shapes
from resnets.segmentation import task  # noqa: F401 (registers the segmentation task)
from resnets.segmentation.config import SegmentationConfig, SegmentationDataConfig
from resnets.segmentation.models import SegmenterConfig
from resnets.train.config import apply_overrides
from resnets.train.engine import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--head", default="deeplabv3")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--output-stride", type=int, default=16)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--optimizer", default="adamw")
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--num-train", type=int, default=300)
    parser.add_argument("--num-val", type=int, default=50)
    parser.add_argument("--out", default="benchmarks/results/segmentation_synthetic.json")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    start = time.perf_counter()
    shapes = ShapesConfig(image_size=128, min_objects=1, max_objects=4, min_size=16,
                          max_size=48)
    segmenter = SegmenterConfig(head=args.head, backbone=args.backbone,
                                output_stride=args.output_stride, norm="batch")
    with tempfile.TemporaryDirectory() as tmp:
        root = write_shapes(Path(tmp) / "shapes", "segmentation", args.num_train,
                            args.num_val, shapes)
        data_seconds = time.perf_counter() - start
        data = SegmentationDataConfig(train=str(root / "train"), val=str(root / "val"))
        cfg = apply_overrides(SegmentationConfig(segmenter=segmenter, data=data), {
            "iterations": args.steps, "batch_size": args.batch_size,
            "optim.name": args.optimizer, "optim.lr": args.lr, "schedule.warmup_iters": 20,
            "device": "cpu", "out_dir": tmp, "run_name": "run"})
        summary = train(cfg)
    wall = time.perf_counter() - start
    result = {
        "benchmark": "segmentation_synthetic",
        "machine": machine(),
        "segmenter": segmenter.__dict__, "shapes": shapes.__dict__,
        "steps": args.steps, "batch_size": args.batch_size,
        "optimizer": args.optimizer, "lr": args.lr,
        "num_train": args.num_train, "num_val": args.num_val,
        "miou": summary["miou"], "iou": summary["iou"],
        "pixel_accuracy": summary["pixel_accuracy"],
        "data_seconds": round(data_seconds, 1), "train_seconds": summary["train_seconds"],
        "wall_seconds": round(wall, 1),
        "targets": {"miou": 0.6, "wall_seconds": 600},
        "command": "OMP_NUM_THREADS=1 python " + " ".join(sys.argv),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

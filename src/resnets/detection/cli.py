"""``resnets detect synth|train|evaluate|predict``: object detection from the command line.

    resnets detect synth data/shapes                       a small COCO set of shapes
    resnets detect train --train data/shapes/train/annotations.json \\
        --val data/shapes/val/annotations.json --backbone resnet18 --steps 300 [key=value ...]
    resnets detect train --resume runs/detect-fasterrcnn-resnet18-...   continue a run
    resnets detect evaluate runs/detect-fasterrcnn-resnet18-...   COCO mAP on the val split
    resnets detect predict --checkpoint runs/... image.png --out predictions/
"""

from __future__ import annotations

import argparse

from ..limits import FRACTION, arg
from ..train.command import run
from ..train.task_cli import (build_task_parser, dense_train_command, parse_checked,
                              print_summary, report_written, run_synth, write_metrics)
from .config import DetectionConfig

TRAIN = dense_train_command("detect", DetectionConfig, ("train", "val", "train_images",
                                                      "val_images"), "detector", "COCO JSON")


def build_parser() -> argparse.ArgumentParser:
    parser, evaluate, predict = build_task_parser(
        "resnets detect", __doc__.split("\n")[0], "detection", TRAIN,
        ("train a detector on COCO-format data", "COCO mAP of a trained detector",
         "draw detections on images, write them as JSON"))
    evaluate.add_argument("--data", help="COCO JSON to evaluate on (default: the run's val "
                          "split)")
    evaluate.add_argument("--images", help="image folder (default: images/ beside the JSON)")
    predict.add_argument("--threshold", type=arg(FRACTION), default=0.5,
                         help="lowest score drawn, 0-1")
    return parser


def main(argv: list[str]) -> int:
    args = parse_checked(build_parser(), argv)
    if args.action == "synth":
        return run_synth(args, "detection")
    # torchvision's detection models load only when needed
    from . import task  # noqa: F401 (registers the task of DetectionConfig)
    from . import train as tasks

    if args.action == "train":
        return run(args, TRAIN, print_summary)
    if args.action == "evaluate":
        metrics = tasks.evaluate_run(args.checkpoint, args.data, args.images, args.device,
                                     args.skip_bad)
        write_metrics(metrics, args.out)
        return 0
    report_written(tasks.predict_images(args.checkpoint, args.images, args.out,
                                        args.threshold, args.device))
    return 0

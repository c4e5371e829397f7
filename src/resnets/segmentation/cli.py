"""``resnets segment synth|train|evaluate|predict``: semantic segmentation.

    resnets segment synth data/shapes-seg                 image and mask folders of shapes
    resnets segment train --train data/shapes-seg/train --val data/shapes-seg/val \\
        --backbone resnet18 --head deeplabv3 --output-stride 8 --steps 300 [key=value ...]
    resnets segment train --resume runs/segment-deeplabv3-resnet18-...   continue a run
    resnets segment evaluate runs/segment-deeplabv3-resnet18-...   mIoU, per-class IoU
    resnets segment predict --checkpoint runs/... image.png --out overlays/
"""

from __future__ import annotations

import argparse

from ..train.command import run
from ..train.task_cli import (build_task_parser, dense_train_command, parse_checked,
                              print_summary, report_written, run_synth, write_metrics)
from .config import SegmentationConfig

TRAIN = dense_train_command(
    "segment", SegmentationConfig, ("train", "val", "crop_size", "num_classes"), "segmenter",
    "folder (images/ and masks/)",
    {"no-aux-loss": "segmenter.aux_loss=false drops the auxiliary head"})


def build_parser() -> argparse.ArgumentParser:
    parser, evaluate, _ = build_task_parser(
        "resnets segment", __doc__.split("\n")[0], "segmentation", TRAIN,
        ("train a segmenter on image and mask folders",
         "mean and per-class IoU of a trained segmenter",
         "write colour overlays and masks of images"))
    evaluate.add_argument("--data", help="folder with images/ and masks/ (default: the run's "
                          "val)")
    return parser


def main(argv: list[str]) -> int:
    args = parse_checked(build_parser(), argv)
    if args.action == "synth":
        return run_synth(args, "segmentation")
    # torchvision's segmentation models load only when needed
    from . import task  # noqa: F401 (registers the task of SegmentationConfig)
    from . import train as tasks

    if args.action == "train":
        return run(args, TRAIN, print_summary)
    if args.action == "evaluate":
        write_metrics(tasks.evaluate_run(args.checkpoint, args.data, args.device,
                                         args.skip_bad), args.out)
        return 0
    report_written(tasks.predict_images(args.checkpoint, args.images, args.out, args.device))
    return 0

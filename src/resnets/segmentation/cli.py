"""``resnets segment synth|train|evaluate|predict``: semantic segmentation.

    resnets segment synth data/shapes-seg                 image and mask folders of shapes
    resnets segment train --train data/shapes-seg/train --val data/shapes-seg/val \\
        --backbone resnet18 --head deeplabv3 --output-stride 8 --steps 300
    resnets segment train --resume runs/segment-deeplabv3-resnet18-...   continue a run
    resnets segment evaluate runs/segment-deeplabv3-resnet18-...   mIoU, per-class IoU
    resnets segment predict --checkpoint runs/... image.png --out overlays/
"""

from __future__ import annotations

import argparse

from ..detection.cli import (add_device_option, add_resume_option, add_synth_parser,
                             parse_checked, report_written, run_synth, train_or_resume,
                             write_metrics)
from ..detection.loop import LoopConfig, add_config_args
from ..detection.run_config import TaskCommand
from ..limits import Parser, arg, integer
from ..train.config_file import add_config_arguments
from .models import SegmenterConfig


def add_train_options(p: argparse.ArgumentParser) -> None:
    """The options of ``resnets segment train``."""
    p.add_argument("--train", help="folder with images/ and masks/")
    p.add_argument("--val", help="folder with images/ and masks/")
    p.add_argument("--num-classes", type=arg(integer(0, 1000)), default=0,
                   help="classes, background included (default: the lines of classes.txt)")
    p.add_argument("--crop-size", type=arg(integer(0, 4096)), default=0,
                   help="random square crops for training, pixels (0: whole images, which "
                   "must then share one size)")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip and count bad image/mask pairs instead of failing")
    add_resume_option(p)
    add_config_arguments(p)
    add_config_args(p, SegmenterConfig)
    add_config_args(p, LoopConfig)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="resnets segment", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add_synth_parser(sub, "segmentation")

    add_train_options(sub.add_parser("train",
                                     help="train a segmenter on image and mask folders"))

    p = sub.add_parser("evaluate", help="mean and per-class IoU of a trained segmenter")
    p.add_argument("checkpoint", help="run directory or checkpoint file")
    p.add_argument("--data", help="folder with images/ and masks/ (default: the run's val)")
    p.add_argument("--skip-bad", action="store_true", help="skip and count bad pairs")
    add_device_option(p)
    p.add_argument("--out", help="also write the metrics to this JSON file")

    p = sub.add_parser("predict", help="write colour overlays and masks of images")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--checkpoint", required=True, help="run directory or checkpoint file")
    p.add_argument("--out", default="predictions", help="folder for overlays and masks")
    add_device_option(p)
    return parser


def main(argv: list[str]) -> int:
    args = parse_checked(build_parser(), argv)
    from . import train as tasks  # torchvision's segmentation models load only when needed

    if args.action == "synth":
        return run_synth(args, "segmentation")
    if args.action == "train":
        command = TaskCommand("segmentation", SegmenterConfig, add_train_options, tasks.run_data)
        return train_or_resume(args, argv, command, tasks.resume_segmenter,
                               lambda a: tasks.train_segmenter(
                                   a.train, a.val, *command.configs(a), a.crop_size,
                                   a.num_classes, a.skip_bad))
    if args.action == "evaluate":
        write_metrics(tasks.evaluate_run(args.checkpoint, args.data, args.device,
                                         args.skip_bad), args.out)
        return 0
    report_written(tasks.predict_images(args.checkpoint, args.images, args.out, args.device))
    return 0

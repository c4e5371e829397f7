"""``resnets sr photos|train|evaluate|predict``: single-image super-resolution.

    resnets sr photos data/photos     scikit-learn's two photos: train/china.png, val/flower.png
    resnets sr train --train data/photos/train --val data/photos/val \\
        --model edsr_baseline_x2 --steps 2000 [network.residual=false] [key=value ...]
    resnets sr train --resume runs/sr-edsr_baseline_x2-...   continue a run
    resnets sr evaluate runs/sr-edsr_baseline_x2-...   PSNR and SSIM against bicubic
    resnets sr predict --checkpoint runs/... image.png --out upscaled/
"""

from __future__ import annotations

import argparse
import dataclasses

from ..data.destination import add_force_option
from ..limits import Parser
from ..train.command import TrainCommand, add_arguments, run
from ..train.task_cli import (ENGINE_FLAGS, add_run_parsers, parse_checked, print_summary,
                              report_written, write_metrics)
from .config import NetworkConfig, SRConfig

TRAIN = TrainCommand(
    "resnets sr train", SRConfig,
    {**{f: f"data.{f}" for f in ("train", "val", "channels", "patch_size", "repeat",
                                 "workers")},
     **ENGINE_FLAGS, "model": "network.name",
     **{f.name: f"network.{f.name}" for f in dataclasses.fields(NetworkConfig)
        if f.name not in ("name", "residual")}},
    defaults={"source": "resnets sr train"},
    required={"data.train": "the folder of the high-resolution training images",
              "data.val": "the folder of the high-resolution validation images"},
    recipes=True)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="resnets sr", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    photos = sub.add_parser("photos", help="write scikit-learn's two sample photos as a "
                            "training and a validation folder")
    photos.add_argument("root", help="folder to write train/ and val/ into")
    photos.add_argument("--train", choices=("china", "flower"), default="china",
                        help="the photo to train on; the other validates")
    add_force_option(photos)
    add_arguments(sub.add_parser("train", help="train a network on patches of a folder of "
                                 "high-resolution images"), TRAIN)
    evaluate, _ = add_run_parsers(sub, "PSNR and SSIM of a trained network and of bicubic "
                                  "upsampling", "write the upscaled images")
    evaluate.add_argument("--data", help="folder of high-resolution images (default: the "
                          "run's val)")
    return parser


def main(argv: list[str]) -> int:
    args = parse_checked(build_parser(), argv)
    if args.action == "photos":
        from .photos import write_photos

        report_written(write_photos(args.root, args.train, args.force))
        return 0
    from . import task  # noqa: F401 (registers the task of SRConfig)
    from . import upscale

    if args.action == "train":
        return run(args, TRAIN, print_summary)
    if args.action == "evaluate":
        write_metrics(upscale.evaluate_run(args.checkpoint, args.data, args.device), args.out)
        return 0
    report_written(upscale.predict_images(args.checkpoint, args.images, args.out,
                                          args.device))
    return 0

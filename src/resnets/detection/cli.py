"""``resnets detect synth|train|evaluate|predict``: object detection from the command line.

    resnets detect synth data/shapes                       a small COCO set of shapes
    resnets detect train --train data/shapes/train/annotations.json \\
        --val data/shapes/val/annotations.json --backbone resnet18 --steps 300
    resnets detect train --resume runs/detect-fasterrcnn-resnet18-...   continue a run
    resnets detect evaluate runs/detect-fasterrcnn-resnet18-...   COCO mAP on the val split
    resnets detect predict --checkpoint runs/... image.png --out predictions/
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from ..data.destination import add_force_option
from ..data.shapes import ShapesConfig, write_shapes
from ..errors import ResnetsError
from ..files import write_text_atomic
from ..limits import DEVICE, FRACTION, SEED, Parser, arg, integer
from .loop import LoopConfig, add_config_args, config_from_args
from .models import DetectorConfig
from .resume import resume_changes
from .run_config import TaskCommand, printed_config, with_config_file
from ..train.config_file import add_config_arguments, check_print_config_format, config_text


def add_synth_parser(sub: argparse._SubParsersAction, task: str) -> None:
    """``synth ROOT``: write the synthetic shapes set of ``task`` (shared by both CLIs)."""
    p = sub.add_parser("synth", help=f"write a synthetic {task} set of coloured shapes")
    p.add_argument("root", help="folder to write train/ and val/ into")
    images = arg(integer(1, 1_000_000))
    p.add_argument("--num-train", type=images, default=200, help="training images")
    p.add_argument("--num-val", type=images, default=50, help="validation images")
    p.add_argument("--seed", type=arg(SEED), default=0, help="random seed of the scenes")
    add_force_option(p)
    add_config_args(p, ShapesConfig)


def run_synth(args: argparse.Namespace, task: str) -> int:
    root = write_shapes(args.root, task, args.num_train, args.num_val,
                        config_from_args(ShapesConfig, args), args.seed, args.force)
    print(f"wrote {args.num_train} train and {args.num_val} val images to {root}")
    return 0


def add_train_options(p: argparse.ArgumentParser) -> None:
    """The options of ``resnets detect train``."""
    p.add_argument("--train", help="COCO JSON of the training images")
    p.add_argument("--val", help="COCO JSON of the validation images")
    p.add_argument("--train-images", help="folder of the training images "
                   "(default: images/ beside the JSON)")
    p.add_argument("--val-images", help="folder of the validation images "
                   "(default: images/ beside the JSON)")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip and count bad annotations and missing images instead of failing")
    add_resume_option(p)
    add_config_arguments(p)
    add_config_args(p, DetectorConfig)
    add_config_args(p, LoopConfig)


def add_resume_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its "
                   "last checkpoint, with its own data and settings (only --steps, --device "
                   "and --workers may be given too)")


def train_or_resume(args: argparse.Namespace, argv: list[str], command: TaskCommand,
                    resume: Callable[..., dict],
                    start: Callable[[argparse.Namespace], dict]) -> int:
    """``train``: continue the run of --resume (given only the options it allows) or, with
    --train and --val (options or ``--config FILE``), ``start(args)`` a new one; print the
    summary, or with --print-config the new run's settings."""
    check_print_config_format(args.format, args.print_config)
    if args.resume:
        summary = resume(args.resume, **resume_changes(command.add_options, argv[1:]))
    else:
        args = with_config_file(args, argv[1:], command)
        missing = [f"--{name}" for name in ("train", "val") if not getattr(args, name)]
        if missing:
            raise ResnetsError(f"{' and '.join(missing)} required: the training and "
                               "validation data (or --resume RUN_DIR to continue a run)")
        if args.print_config:  # the resolved settings, nothing read or written
            print(config_text(printed_config(args, command), args.format or "json"), end="")
            return 0
        summary = start(args)
    print(json.dumps(summary, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="resnets detect", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add_synth_parser(sub, "detection")

    add_train_options(sub.add_parser("train", help="train a detector on COCO-format data"))

    p = sub.add_parser("evaluate", help="COCO mAP of a trained detector")
    p.add_argument("checkpoint", help="run directory or checkpoint file")
    p.add_argument("--data", help="COCO JSON to evaluate on (default: the run's val split)")
    p.add_argument("--images", help="image folder (default: images/ beside the JSON)")
    p.add_argument("--skip-bad", action="store_true", help="skip and count bad annotations")
    add_device_option(p)
    p.add_argument("--out", help="also write the metrics to this JSON file")

    p = sub.add_parser("predict", help="draw detections on images, write them as JSON")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--checkpoint", required=True, help="run directory or checkpoint file")
    p.add_argument("--out", default="predictions", help="folder for the drawn images and "
                   "detections.json")
    p.add_argument("--threshold", type=arg(FRACTION), default=0.5,
                   help="lowest score drawn, 0-1")
    add_device_option(p)
    return parser


def add_device_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", type=arg(DEVICE),
                   help="auto | cpu | cuda | cuda:N | mps")


def parse_checked(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The arguments, with the device checked before any data or checkpoint is read."""
    from ..train.setup import resolve_device

    args = parser.parse_args(argv)
    if getattr(args, "device", None):
        resolve_device(args.device)  # e.g. mps or cuda:7 on a machine without them
    return args


def main(argv: list[str]) -> int:
    args = parse_checked(build_parser(), argv)
    from . import train as tasks  # torchvision's detection models load only when needed

    if args.action == "synth":
        return run_synth(args, "detection")
    if args.action == "train":
        command = TaskCommand("detection", DetectorConfig, add_train_options, tasks.run_data)
        return train_or_resume(args, argv, command, tasks.resume_detector,
                               lambda a: tasks.train_detector(
                                   a.train, a.val, *command.configs(a), a.train_images,
                                   a.val_images, a.skip_bad))
    if args.action == "evaluate":
        metrics = tasks.evaluate_run(args.checkpoint, args.data, args.images, args.device,
                                     args.skip_bad)
        write_metrics(metrics, args.out)
        return 0
    report_written(tasks.predict_images(args.checkpoint, args.images, args.out,
                                        args.threshold, args.device))
    return 0


def report_written(paths: list) -> None:
    """One line per file written by ``predict``: exactly those, under the names chosen."""
    for path in paths:
        print(f"wrote {path}")


def write_metrics(metrics: dict, out: str | None) -> None:
    """Print ``metrics`` as JSON, and write them to ``out`` (atomically) when given."""
    text = json.dumps(metrics, indent=2)
    print(text)
    if out:
        write_text_atomic(out, text + "\n")

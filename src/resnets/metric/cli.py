"""``resnets metric train|pairs`` and ``resnets verify``: metric learning from the command line.

    resnets metric train --loss arcface data.classes=0-5 --epochs 15     train embeddings
    resnets metric train --recipe digits-arcface                          the demo's setup
    resnets metric train --resume runs/metric-arcface-resnet20-...        continue a run
    resnets metric pairs lfw-digits --classes 6-9 --seed 0               an LFW-format set
    resnets verify lfw-digits --checkpoint runs/metric-arcface-...       10-fold accuracy,
                                                                          TAR@FAR, ROC, rank-1
    resnets verify lfw-digits --model resnet50 --weights imagenet        published weights
"""

from __future__ import annotations

import dataclasses

from ..data.destination import add_force_option
from ..limits import SEED, Parser, arg, integer
from ..train.command import TrainCommand, add_arguments, run
from ..train.task_cli import add_device_option, parse_checked, print_summary
from .config import MetricConfig, MetricSettings

FLAGS = {**{f.name: f"metric.{f.name}" for f in dataclasses.fields(MetricSettings)},
         "model": "model.name", "dataset": "data.dataset", "root": "data.root",
         "classes": "data.classes", "epochs": "epochs", "batch_size": "batch_size",
         "lr": "optim.lr", "seed": "seed", "device": "device", "out": "out_dir",
         "run_name": "run_name"}
TRAIN = TrainCommand("resnets metric train", MetricConfig, FLAGS,
                     defaults={"source": "resnets metric train"}, recipes=True)


def build_parser() -> Parser:
    parser = Parser(prog="resnets metric", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add_arguments(sub.add_parser("train", help="train an embedding with a metric loss"), TRAIN)
    pairs = sub.add_parser("pairs", help="write an LFW-format folder and pairs.txt from a "
                           "labelled dataset")
    pairs.add_argument("dest", help="folder to write the identity folders and pairs.txt into")
    pairs.add_argument("--dataset", default="digits", choices=("digits", "cifar10", "cifar100"))
    pairs.add_argument("--root", default="", help="folder of the CIFAR files")
    pairs.add_argument("--split", default="all", choices=("train", "test", "all"),
                       help="which images of the dataset (digits: both splits of 1,797)")
    pairs.add_argument("--classes", default="", help="identities: label indices, e.g. 6-9")
    pairs.add_argument("--folds", type=arg(integer(1, 100)), default=10)
    pairs.add_argument("--per-fold", type=arg(integer(1, 100_000)), default=300,
                       help="matched pairs per fold, and as many mismatched (LFW: 300)")
    pairs.add_argument("--per-identity", type=arg(integer(0, 1_000_000)), default=0,
                       help="images kept of each identity; 0 = all")
    pairs.add_argument("--seed", type=arg(SEED), default=0)
    add_force_option(pairs)
    return parser


def main(argv: list[str]) -> int:
    args = parse_checked(build_parser(), argv)
    if args.action == "train":
        return run(args, TRAIN, print_summary)
    from .lfw import write_pairs_from_dataset

    written = write_pairs_from_dataset(args.dest, args.dataset, args.root, args.split,
                                       args.classes, args.folds, args.per_fold,
                                       args.per_identity, args.seed, args.force)
    print(f"wrote {written}")
    return 0


def build_verify_parser() -> Parser:
    parser = Parser(prog="resnets verify", description="Face-verification protocols on an "
                    "LFW-format folder: 10-fold accuracy, TAR at FAR, ROC, rank-1 and mAP.")
    parser.add_argument("root", help="one folder per identity (Name/Name_0001.jpg ...)")
    parser.add_argument("--pairs", default=None, help="pairs file (default: ROOT/pairs.txt)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a metric-learning or classification run "
                        "directory or checkpoint (a classifier: its pooled features)")
    source.add_argument("--model", metavar="NAME", help="a registry model instead: its pooled "
                        "features with --weights")
    parser.add_argument("--weights", default="imagenet", help="with --model: imagenet | "
                        "imagenet:v2 | a .pt/.pth/.safetensors state dict or run directory | "
                        "none (random)")
    parser.add_argument("--out", default=None, help="report folder (default: "
                        "CHECKPOINT_RUN/verify-ROOTNAME, or runs/verify-MODEL-ROOTNAME)")
    parser.add_argument("--batch-size", type=arg(integer(1, 65536)), default=256)
    add_device_option(parser)
    return parser


def verify_main(argv: list[str]) -> int:
    from .verify import print_report, verify

    args = build_verify_parser().parse_with_settings(argv)
    print_report(verify(args.root, args.pairs, args.checkpoint, args.out, args.batch_size,
                        args.device, args.model, args.weights))
    return 0

"""``resnets pretrain train|knn``: self-supervised pretraining (SimCLR, BYOL) and kNN top-1.

    resnets pretrain train --method simclr --model resnet20 --dataset cifar10 --root DATA
    resnets pretrain train --recipe byol-cifar10 data.root=DATA epochs=200
    resnets pretrain train --resume runs/simclr-resnet20-...     continue a run
    resnets pretrain knn runs/simclr-resnet20-... --model resnet20 --dataset cifar10 --root DATA
    resnets train model.name=resnet20 model.pretrained=runs/simclr-resnet20-...   fine-tune

``knn`` scores any backbone: a self-supervised or classification run (directory or .pt
checkpoint), a weights file, or ``none`` (random initialisation, seeded by ``--seed``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..limits import DEVICE, SEED, Parser, arg, choice, integer, number
from ..train.command import TrainCommand, add_arguments, run
from .config import DATASETS, SelfSupConfig, SelfSupDataConfig

FLAGS = {"method": "ssl.method", "model": "ssl.model", "dataset": "data.dataset",
         "root": "data.root", "epochs": "epochs", "batch_size": "batch_size", "lr": "optim.lr",
         "seed": "seed", "device": "device", "out": "out_dir", "name": "run_name"}
TRAIN = TrainCommand("resnets pretrain train", SelfSupConfig, FLAGS, recipes=True)


def build_parser() -> Parser:
    parser = Parser(prog="resnets pretrain", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add_arguments(sub.add_parser("train", help="pretrain a backbone on unlabelled images"),
                  TRAIN)
    knn = sub.add_parser("knn", help="kNN top-1 of a backbone's features")
    knn.add_argument("weights", help="run directory, .pt checkpoint, weights file, or none")
    knn.add_argument("--model", default="resnet20", help="registry name of the backbone")
    knn.add_argument("--dataset", default="digits", type=arg(choice(*DATASETS)),
                     help=" | ".join(DATASETS))
    knn.add_argument("--root", default="", help="folder holding the CIFAR files")
    knn.add_argument("--resize", type=arg(integer(0, 2048)), default=0,
                     help="resize the images once to this side, pixels (0 keeps)")
    knn.add_argument("--synthetic-size", type=arg(integer(1, 1_000_000)), default=512,
                     help="synthetic data: training images (test: a quarter of it)")
    knn.add_argument("--k", type=arg(integer(1, 100_000)), default=200,
                     help="neighbours that vote")
    knn.add_argument("--temperature", type=arg(number(0, 100, open_low=True)), default=0.1,
                     help="votes weighted by exp(cosine / temperature)")
    knn.add_argument("--batch-size", type=arg(integer(1, 65536)), default=512)
    knn.add_argument("--seed", type=arg(SEED), default=0, help="initialisation of `none`")
    knn.add_argument("--device", default="auto", type=arg(DEVICE),
                     help="auto | cpu | cuda | cuda:N | mps")
    knn.add_argument("--out", default=None, help="also write the report as JSON here")
    return parser


def knn_report(args: argparse.Namespace) -> dict:
    """kNN top-1 of the backbone that ``args.weights`` names, on ``args.dataset``."""
    from .. import data as D
    from ..files import check_writable
    from ..models import create_model
    from ..models.registry import check_modality
    from ..train.device import resolve_device
    from ..train.finetune import check_pretrained, load_pretrained
    from ..train.pipeline import load_arrays
    from .knn import knn_top1

    device = resolve_device(args.device)  # every argument is checked before data is read
    spec = "" if args.weights.lower() == "none" else args.weights
    check_modality("--model", args.model, "image", "kNN of image features")
    check_pretrained(spec, args.model)
    if args.out:
        check_writable(Path(args.out).parent)
    data = SelfSupDataConfig(dataset=args.dataset, root=args.root,
                             synthetic_size=args.synthetic_size, resize=args.resize)
    train, test = load_arrays(SelfSupConfig(data=data, seed=args.seed))
    torch.manual_seed(args.seed)
    backbone = create_model(args.model, num_classes=0, in_chans=train.images.shape[1])
    if spec:
        load_pretrained(backbone, spec, args.model)
    mean, std = D.channel_stats(train)
    top1 = knn_top1(backbone.to(device), train, test, mean, std, args.batch_size, device,
                    args.k, args.temperature)
    return {"weights": args.weights, "model": args.model, "dataset": args.dataset,
            "knn_top1": top1, "k": args.k, "temperature": args.temperature,
            "train_images": len(train), "test_images": len(test)}


def main(argv: list[str]) -> int:
    args = build_parser().parse_with_settings(argv)
    from . import task  # noqa: F401 (registers the task of SelfSupConfig)

    if args.action == "train":
        return run(args, TRAIN, lambda summary: print(json.dumps(summary, indent=2)))
    report = knn_report(args)
    print(f"kNN top-1 {100 * report['knn_top1']:.2f}% of {args.weights} ({args.model}) on "
          f"{args.dataset}: {report['train_images']} train / {report['test_images']} test "
          f"images, k={args.k}, T={args.temperature}")
    if args.out:
        from ..files import write_text_atomic

        write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    return 0

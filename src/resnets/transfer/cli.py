"""``resnets embed`` and ``resnets probe``: feature vectors and linear probes from the shell.

    resnets embed FOLDER --out feats.npz --model resnet50 --weights imagenet
    resnets embed FOLDER --out feats.safetensors --checkpoint runs/my-run
    resnets probe ROOT --model resnet18 --weights imagenet     # ROOT/train, ROOT/val

Every argument is checked before a model is built or an image read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import ResnetsError
from ..limits import DEVICE, Parser, arg, integer, number


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", metavar="RUN",
                        help="one of our run directories or its .pt checkpoint")
    source.add_argument("--model", metavar="NAME", help="a registry model (`resnets models`)")
    parser.add_argument("--weights", default="imagenet",
                        help="with --model: imagenet | imagenet:v2 | a .pt/.pth/.safetensors "
                             "state dict or run directory | none (random)")
    parser.add_argument("--image-size", type=arg(integer(0, 2048)), default=0,
                        help="with --model: centre-crop side in pixels (default: the model's)")
    parser.add_argument("--batch-size", type=arg(integer(1, 4096)), default=64)
    parser.add_argument("--workers", type=arg(integer(0, 256)), default=2,
                        help="image-decoding processes")
    parser.add_argument("--device", default="auto", type=arg(DEVICE),
                        help="auto | cpu | cuda | cuda:N | mps")


def _check_source(args: argparse.Namespace):
    """The weights spec and the device of the backbone arguments, checked."""
    from ..models.registry import check_modality
    from ..train.finetune import check_pretrained
    from ..train.setup import resolve_device
    from .embed import FEATURES_OF_IMAGES

    weights = "" if args.weights.lower() == "none" else args.weights
    if args.model:
        check_modality("--model", args.model, "image", FEATURES_OF_IMAGES)
        check_pretrained(weights, args.model)
    elif args.image_size:
        raise ResnetsError("--image-size applies to --model; a run embeds at its own size")
    elif not Path(args.checkpoint).exists():
        raise ResnetsError(f"--checkpoint {args.checkpoint!r} does not exist; give a run "
                           "directory or its .pt checkpoint")
    return weights, resolve_device(args.device)


def _load_embedder(args: argparse.Namespace, weights: str, device):
    from .embed import from_checkpoint, from_weights

    if args.model:
        return from_weights(args.model, weights, device, args.image_size or None)
    return from_checkpoint(args.checkpoint, device)


def build_embed_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="resnets embed", description="pre-logit feature vectors of a folder of images, "
        "written with their file names to .npz or .safetensors")
    parser.add_argument("folder", help="folder of images (searched recursively)")
    parser.add_argument("--out", required=True, help="output file: .npz or .safetensors")
    _add_source_arguments(parser)
    return parser


def embed_main(argv: list[str]) -> int:
    """``resnets embed``: write the features of every image under a folder."""
    from .embed import check_output, embed_files, list_images, save_embeddings

    args = build_embed_parser().parse_args(argv)
    out = check_output(args.out)
    weights, device = _check_source(args)
    paths, names = list_images(args.folder)
    embedder = _load_embedder(args, weights, device)
    features = embed_files(embedder, paths, args.batch_size, args.workers)
    save_embeddings(out, features, names, embedder.source)
    print(f"{features.shape[0]} images x {features.shape[1]} features from "
          f"{embedder.source}: {out}")
    return 0


def build_probe_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="resnets probe", description="linear-probe evaluation: logistic regression on "
        "a frozen backbone's features of ROOT/train, scored on ROOT/val")
    parser.add_argument("root", help="image folder with train/<class>/ and val/<class>/")
    parser.add_argument("--c", type=arg(number(0, 1e6, open_low=True)), default=1.0,
                        help="inverse L2 regularisation strength of the logistic regression")
    parser.add_argument("--max-iter", type=arg(integer(1, 1_000_000)), default=1000,
                        help="solver iterations")
    parser.add_argument("--out", default=None, help="also write the report as JSON here")
    _add_source_arguments(parser)
    return parser


def probe_main(argv: list[str]) -> int:
    """``resnets probe``: linear-probe top-1 accuracy of a backbone on train/ and val/."""
    from .. import data as D
    from .probe import check_settings, probe_folder

    args = build_probe_parser().parse_args(argv)
    check_settings(args.c, args.max_iter)
    weights, device = _check_source(args)
    for split in ("train", "val"):  # the folders are checked before the backbone loads
        D.ImageFolderDataset(args.root, split)
    embedder = _load_embedder(args, weights, device)
    report = probe_folder(embedder, args.root, args.c, args.max_iter, args.batch_size,
                          args.workers)
    print(f"linear probe of {report['source']} on {args.root}: val top-1 "
          f"{100 * report['val_top1']:.2f}% (train {100 * report['train_top1']:.2f}%), "
          f"{report['train_images']} train / {report['val_images']} val images, "
          f"{report['features']} features, {len(report['classes'])} classes")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"report: {args.out}")
    return 0

"""`resnets attack`: clean and robust accuracy of a trained run under adversarial attacks.

    resnets attack --checkpoint RUN_DIR|FILE --eps 8/255 [--attacks fgsm,pgd,square]
                   [--norm linf|l2] [--steps 10] [--restarts 1] [--step-size S]
                   [--queries 1000] [--split test|val] [--limit N] [--checks]
    resnets attack --model resnet50 --weights imagenet:v2 --root VAL_DIR --eps 4/255 ...

Every argument is checked before the checkpoint or the data is read. The report goes to
``attack-<split>.json`` in the run directory (or ``--out``); for published weights on an
ImageNet-layout folder (:mod:`resnets.train.published`), to ``attack-folder.json`` in
``--out`` or a new folder under runs/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..errors import ResnetsError
from ..files import check_writable, write_text_atomic
from ..limits import BATCH_MAX, DEVICE, Parser, arg, field_arg, integer
from ..train.config import apply_overrides
from ..train.inference import load_trained
from ..train.pipeline import build_pipeline
from ..train.published import (check_report_folder, folder_loader, load_published,
                                new_report_folder, published_config)
from ..train.setup import resolve_device
from ..train.attacks import PixelSpace, to_pixels
from .checks import ensemble_warnings, format_checks, gradient_masking_checks
from .evaluate import (ATTACKS, AttackSettings, build_attacks, check_attack_names, describe,
                       robust_accuracy, settings_dict)

NOT_IMAGES = ("speech", "text")  # data.dataset values whose inputs are not pixels
CHECK_IMAGES = 256  # images the gradient-masking checks run on (the first ones)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="resnets attack", description="clean and robust accuracy under attacks")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", default=None, help="run directory or checkpoint file")
    source.add_argument("--model", default=None, help="a model with published weights, "
                        "instead of --checkpoint (with --root)")
    p.add_argument("--weights", default="imagenet", help="with --model: imagenet | "
                   "imagenet:v1 | imagenet:v2")
    p.add_argument("--root", default=None, help="with --model: the image folder, one folder "
                   "per class named by wnid or class name")
    p.add_argument("--eps", required=True, type=field_arg(AttackSettings, "eps"),
                   help="radius in [0, 1] pixel units; fractions allowed: 8/255")
    p.add_argument("--attacks", default=None,
                   help=f"comma-separated, from {','.join(ATTACKS)} "
                        "(default: all; fgsm,pgd for --norm l2)")

    def setting(name: str):
        return field_arg(AttackSettings, name)

    p.add_argument("--norm", default="linf", type=setting("norm"), help="linf | l2")
    p.add_argument("--steps", type=setting("steps"), default=10, help="PGD iterations")
    p.add_argument("--restarts", type=setting("restarts"), default=1,
                   help="PGD random restarts")
    p.add_argument("--step-size", type=setting("step_size"), default=0.0,
                   help="PGD step, pixel units (0: 2.5 eps/steps)")
    p.add_argument("--queries", type=setting("queries"), default=1000,
                   help="square attack queries per image")
    p.add_argument("--split", choices=("test", "val"), default="test")
    p.add_argument("--limit", type=arg(integer(0)), default=0,
                   help="attack the first N images (0: all)")
    p.add_argument("--batch-size", type=arg(integer(0, BATCH_MAX)), default=0,
                   help="images per attacked batch (0: the run's eval_batch_size)")
    p.add_argument("--seed", type=setting("seed"), default=0,
                   help="seeds random starts and the search")
    p.add_argument("--checks", action="store_true",
                   help=f"also run the gradient-masking sanity checks on the first "
                        f"{CHECK_IMAGES} images")
    p.add_argument("--device", default="auto", type=arg(DEVICE),
                   help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--out", default=None, help="report folder (default: the run directory); "
                   "a report already there is kept, the new one numbered")
    return p


def parse_settings(args: argparse.Namespace) -> tuple[AttackSettings, list[str]]:
    """The threat model and the attack names, or a one-line error."""
    settings = AttackSettings(eps=args.eps, norm=args.norm, steps=args.steps,
                              step_size=args.step_size,
                              restarts=args.restarts, queries=args.queries, seed=args.seed)
    if args.attacks is None:
        names = list(ATTACKS) if args.norm == "linf" else ["fgsm", "pgd"]
    else:
        names = [n.strip() for n in args.attacks.split(",") if n.strip()]
    return settings, check_attack_names(names, settings.norm)


class Target:
    """What is attacked: the network, its inputs' normalisation, the batches, where the
    report goes and what it names as the source."""

    def __init__(self, args: argparse.Namespace, device: torch.device) -> None:
        if args.model:
            self._published(args, device)
        else:
            self._run(args, device)

    def _published(self, args: argparse.Namespace, device: torch.device) -> None:
        if not args.root or args.split != "test":
            raise ResnetsError("--model attacks the images of an image folder: pass --root "
                               "FOLDER (and no --split)")
        config = published_config(args.model, args.weights)
        out = check_report_folder(args.out, args.root)
        _, self.loader = folder_loader(config, args.root, args.batch_size or 32, 0)
        self.net = load_published(config, device)
        self.out = out or new_report_folder(config, "attack")
        self.mean, self.std, self.split = config["mean"], config["std"], "folder"
        self.source = {"model": config["architecture"], "weights": f"imagenet:{config['tag']}",
                       "root": str(args.root)}

    def _run(self, args: argparse.Namespace, device: torch.device) -> None:
        if args.root:
            raise ResnetsError("--root goes with --model; a run attacks its own data")
        self.net, state, cfg = load_trained(args.checkpoint, device)
        if cfg.data.dataset in NOT_IMAGES:
            raise ResnetsError(f"this run was trained on {cfg.data.dataset} data; the attacks "
                               "perturb image pixels")
        self.out = check_writable(Path(args.out) if args.out
                                  else _run_folder(Path(args.checkpoint)))
        if args.batch_size:
            cfg = apply_overrides(cfg, {"eval_batch_size": args.batch_size})
        pipe = build_pipeline(cfg, device)
        if args.split == "val" and pipe.val is None:
            raise ResnetsError("this run has no validation split (data.val_size=0); "
                               "use --split test")
        self.loader = pipe.val if args.split == "val" else pipe.test
        self.mean, self.std, self.split = state["mean"], state["std"], args.split
        self.source = {"checkpoint": str(args.checkpoint)}


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    settings, names = parse_settings(args)
    device = resolve_device(args.device)
    target = Target(args, device)
    model = PixelSpace(target.net, target.mean, target.std).eval()
    batches = ((to_pixels(images.to(device), target.mean, target.std), labels.to(device))
               for images, labels in _from_the_start(target.loader))
    attacks = build_attacks(names, settings, device)
    report = robust_accuracy(model, batches, attacks, settings.norm, limit=args.limit)
    report.update(**target.source, split=target.split, settings=settings_dict(settings),
                  warnings=ensemble_warnings(report))
    print(f"{target.split}: {report['images']} images, eps {settings.eps:.5g} "
          f"({settings.norm})")
    print(f"  clean accuracy          {100 * report['clean_accuracy']:6.2f}%")
    for name in names:
        print(f"  {name:<8} {100 * report['robust_accuracy'][name]:6.2f}%   "
              f"{describe(name, settings)}")
    print(f"  worst case over all     {100 * report['worst_case_accuracy']:6.2f}%")
    for warning in report["warnings"]:
        print(f"  warning: {warning}")
    if args.checks:
        checks = gradient_masking_checks(model, *_first_images(target, args.limit, device),
                                         settings.eps, settings.norm, settings.steps,
                                         queries=settings.queries, seed=settings.seed)
        print("gradient-masking sanity checks:")
        print(format_checks(checks))
        report["checks"] = [{"name": c.name, "passed": c.passed, "detail": c.detail}
                            for c in checks]
    path = write_text_atomic(report_path(target.out, target.split),
                             json.dumps(report, indent=2) + "\n")
    print(f"report: {path}")
    return 0


def report_path(folder: Path, split: str) -> Path:
    """``attack-SPLIT.json`` in ``folder``, or ``attack-SPLIT-N.json`` with the first free N:
    a report of other settings is never overwritten."""
    path, n = folder / f"attack-{split}.json", 1
    while path.exists():
        n += 1
        path = folder / f"attack-{split}-{n}.json"
    return path


def _first_images(target: Target, limit: int, device: torch.device
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The first CHECK_IMAGES (or --limit) images of the split, as pixels."""
    want = min(limit or CHECK_IMAGES, CHECK_IMAGES)
    images, labels = [], []
    for x, y in _from_the_start(target.loader):
        images.append(x.to(device))
        labels.append(y.to(device))
        if sum(len(b) for b in labels) >= want:
            break
    pixels = to_pixels(torch.cat(images)[:want], target.mean, target.std)
    return pixels, torch.cat(labels)[:want]


def _from_the_start(loader):
    """The split's batches from the first one (an in-memory loader remembers where it was)."""
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(0)
    return loader


def _run_folder(path: Path) -> Path:
    return path if path.is_dir() else path.parent

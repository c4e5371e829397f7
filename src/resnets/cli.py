"""The `resnets` command: a thin layer over the library.

    resnets train [--recipe NAME] [key=value ...]   train (default: ResNet-20 on digits)
    resnets evaluate RUN_DIR|CHECKPOINT              test error, per-class accuracy, confusion
    resnets evaluate --model M --weights imagenet --root VAL_DIR   published weights
    resnets predict --checkpoint RUN IMAGE...        top-k classes of image files
    resnets predict --model M --weights imagenet IMAGE...          ImageNet class names
    resnets average RUN|CHECKPOINT... --out FILE     the uniform average of their weights
    resnets models [PATTERN]                         every registered model
    resnets recipes [--task NAME|--show NAME]        every task's named training recipes
    resnets experiment NAME                          reproduce a claim of the papers
    resnets bench                                    speed and memory against torchvision
    resnets export RUN_DIR --format onnx --out m.onnx  ONNX, torch.export or AOTInductor
    resnets embed|probe|detect|segment|speech|text|attack|continual|pretrain
                                                     the applications (`resnets CMD -h`)

User errors print one line and exit with status 2; they never print a traceback.
`torchrun --nproc_per_node N -m resnets.cli train ...` trains with N processes
(docs/distributed.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from .applications import APP_COMMANDS, register_applications, run_app
from .errors import ResnetsError, one_line
from .limits import Parser, arg, field_arg, integer, number

# Flags that are shorthands for common `key=value` settings of `resnets train`.
TRAIN_FLAGS = {
    "model": "model.name", "data": "data.dataset", "root": "data.root", "epochs": "epochs",
    "iterations": "iterations", "batch_size": "batch_size", "lr": "optim.lr", "seed": "seed",
    "device": "device", "out": "out_dir", "name": "run_name", "pretrained": "model.pretrained",
    "freeze": "model.freeze_stages",
}

def build_parser() -> argparse.ArgumentParser:
    from .bench import SuiteConfig
    from .train.command import add_arguments

    parser = Parser(prog="resnets", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a model (default: ResNet-20 on the digits)")
    add_arguments(p, train_command())

    p = sub.add_parser("evaluate", help="evaluate a checkpoint or run directory, or "
                       "published weights on an ImageNet-layout folder")
    p.add_argument("checkpoint", nargs="?", help="run directory or checkpoint file")
    p.add_argument("--split", choices=("test", "val"), default="test")
    p.add_argument("--root", default=None, help="dataset folder, if it moved; with --model: "
                   "the folder of <wnid or class name>/<image> to evaluate on")
    p.add_argument("--ten-crop", action="store_true", help="image folders: 10-crop testing")
    p.add_argument("--noise", type=arg(number(0, 100)), default=None, help="gated models: "
                   "std of the Gaussian noise of the second evaluation (default 0.25)")
    p.add_argument("--out", default=None, help="where to write the report (default: run dir; "
                   "with --model a new folder under runs/)")
    _add_published_arguments(p)
    p.add_argument("--batch-size", type=arg(integer(1, 4096)), default=None,
                   help="with --model: images per batch (default 32)")
    p.add_argument("--workers", type=arg(integer(0, 256)), default=None,
                   help="with --model: image-decoding processes (default 2)")

    p = sub.add_parser("predict", help="print the top-k classes of image files")
    p.add_argument("images", nargs="+", help="image files")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", default=None, help="run directory or checkpoint file")
    _add_published_arguments(p, source)
    p.add_argument("--topk", type=arg(integer(1, 1000)), default=5,
                   help="classes to print per image")

    p = sub.add_parser("average", help="average the weights of checkpoints of one model")
    p.add_argument("checkpoints", nargs="+", help="run directories (their last checkpoint) "
                   "or checkpoint files (last.pt, last.prev.pt, best.pt, swa.pt)")
    p.add_argument("--out", required=True, help="the checkpoint to write, or a directory "
                   "(averaged.pt in it)")
    p.add_argument("--bn-update", action="store_true", help="re-estimate BatchNorm "
                   "statistics on the first run's training data")
    p.add_argument("--root", default=None, help="that run's data folder, if it moved")

    p = sub.add_parser("models", help="list the registered models")
    p.add_argument("pattern", nargs="?", default="*", help="shell pattern, e.g. 'resnet*'")
    p.add_argument("--markdown", action="store_true", help="print a markdown table")

    p = sub.add_parser("bench", help="speed and memory against torchvision and the machine")
    p.add_argument("--models", default="resnet20,resnet56,resnet18,resnet50")
    p.add_argument("--device", default="cpu", type=field_arg(SuiteConfig, "device"))
    p.add_argument("--seconds", type=field_arg(SuiteConfig, "seconds"), default=5.0,
                   help="measuring time per case")
    p.add_argument("--train-batch", type=field_arg(SuiteConfig, "train_batch"), default=32)
    p.add_argument("--infer-batch", type=field_arg(SuiteConfig, "infer_batch"), default=8)
    p.add_argument("--no-compile", action="store_true", help="leave torch.compile out")
    p.add_argument("--no-checkpointing", action="store_true",
                   help="skip the ResNet-152 activation-checkpointing case")
    p.add_argument("--threads", type=field_arg(SuiteConfig, "threads"), default=0,
                   help="intra-op threads per case")
    p.add_argument("--rounds", type=field_arg(SuiteConfig, "rounds"), default=1,
                   help="run every case this many times, interleaved; report medians")
    p.add_argument("--out", default="benchmarks/results/bench.json")

    p = sub.add_parser("export", help="a run or published weights as ONNX, a torch.export "
                       "program or an AOTInductor package")
    p.add_argument("source", nargs="?", help="run directory or checkpoint (or --model)")
    p.add_argument("--model", help="registry name, with --weights (instead of a run)")
    p.add_argument("--weights", help="imagenet, imagenet:v2 or a weights file (with --model)")
    p.add_argument("--format", required=True, help="fastest: the faster here of onnx and "
                   "exported-program", choices=("onnx", "exported-program", "aoti", "fastest"))
    p.add_argument("--out", required=True, help="file to write (.onnx or .pt2)")
    p.add_argument("--fuse", action="store_true", help="fold BatchNorm into the convolutions")
    p.add_argument("--batch", type=arg(integer(1, 64)), default=4,
                   help="batch of the check against the eager model")

    p = sub.add_parser("recipes", help="list the named training recipes, grouped by task")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--task", metavar="NAME", help="list one task's recipes only "
                       "(classification, detection, segmentation, continual, selfsup)")
    which.add_argument("--show", metavar="NAME", help="print one recipe's resolved config")
    p = sub.add_parser("experiment", help="reproduce a claim of the papers: figures, CSV and "
                       "a report in one directory")
    from .experiments.command import add_arguments

    add_arguments(p)
    for name, (_, help_text) in APP_COMMANDS.items():
        p = sub.add_parser(name, help=help_text, add_help=False)
        p.add_argument("app_args", nargs=argparse.REMAINDER)
    return parser


def _add_published_arguments(p: argparse.ArgumentParser, source=None) -> None:
    """--model and --weights; ``source``: the group that --model joins (one of it needed)."""
    (source or p).add_argument("--model", default=None, help="a model with published "
                               "weights, instead of a checkpoint (`resnets models` marks them)")
    p.add_argument("--weights", default=None, help="with --model: imagenet | imagenet:v1 | "
                   "imagenet:v2 (default imagenet)")


def _published_source(args: argparse.Namespace, checkpoint: str | None, option: str) -> bool:
    """Whether the command runs published weights (--model) rather than a checkpoint; a
    mix of the two, or neither, is refused."""
    if args.model and checkpoint:
        raise ResnetsError(f"give either {option} or --model/--weights, not both")
    if not args.model and not checkpoint:
        raise ResnetsError(f"{option} is required (a run directory or checkpoint file), or "
                           "--model NAME --weights imagenet for published weights")
    if not args.model and args.weights:
        raise ResnetsError("--weights goes with --model NAME; a checkpoint brings its own")
    return bool(args.model)


def train_command():
    """``resnets train``: classification of images, audio or text (any ``data.dataset``)."""
    from .train.command import TrainCommand
    from .train.config import TrainConfig
    from .train.recipes import DEFAULT_RECIPE

    return TrainCommand("resnets train", TrainConfig, TRAIN_FLAGS, recipes=True,
                        default_recipe=DEFAULT_RECIPE)


def cmd_train(args: argparse.Namespace) -> int:
    """Train; under torchrun this runs in every process, and rank 0 prints."""
    from .train.command import run

    return run(args, train_command(), print_train_summary)


def print_train_summary(summary: dict) -> None:
    if summary.get("test_accuracy") is not None:
        print(f"test accuracy {100 * summary['test_accuracy']:.2f}% "
              f"(top-1 error {100 * summary['test_error']:.2f}%) after {summary['steps']} "
              f"steps, {summary['train_seconds']:.0f} s")
    print(f"run directory: {summary['run_dir']}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .train.gates import gate_lines
    from .train.inference import evaluate_checkpoint

    if _published_source(args, args.checkpoint, "RUN_DIR|CHECKPOINT"):
        return cmd_evaluate_published(args)
    if args.batch_size is not None or args.workers is not None:
        raise ResnetsError("--batch-size and --workers go with --model; a run evaluates with "
                           "its own settings")
    report = evaluate_checkpoint(args.checkpoint, split=args.split, root=args.root,
                                 ten_crop=args.ten_crop, out_dir=args.out, noise=args.noise)
    print(f"{report['split']} top-1 error {100 * report['top1_error']:.2f}%  "
          f"top-5 error {100 * report['top5_error']:.2f}%  loss {report['loss']:.4f}  "
          f"({report['images']} images)")
    for line in gate_lines(report.get("gates", {})):  # a gated model's execution and MACs
        print(line)
    return print_classes_and_files(report, 16)


def print_classes_and_files(report: dict, width: int) -> int:
    """The per-class accuracies (and a run's calibration and per-class scores) and the files
    of an evaluation report."""
    from .train.calibration_report import print_calibration_and_class_scores

    for name, acc in report["per_class_accuracy"].items():
        print(f"  {name:>{width}}  {100 * acc:6.2f}%")
    if "expected_calibration_error" in report:  # a run's report (published: accuracy only)
        print_calibration_and_class_scores(report)
    print(f"report: {report['report_path']}")
    if report["confusion_png"]:  # published weights on many classes: none
        print(f"confusion matrix: {report['confusion_png']}")
    return 0


def cmd_evaluate_published(args: argparse.Namespace) -> int:
    """``resnets evaluate --model NAME --weights imagenet[:TAG] --root FOLDER``."""
    from .train.published import evaluate_published

    if not args.root:
        raise ResnetsError("--model evaluates on an image folder: pass --root FOLDER (one "
                           "folder per class, named by wnid or class name)")
    if args.ten_crop or args.split != "test":
        raise ResnetsError("--ten-crop and --split are for runs; --model evaluates the "
                           "whole --root folder")
    report = evaluate_published(args.model, args.weights or "imagenet", args.root, args.out,
                                args.batch_size or 32,
                                2 if args.workers is None else args.workers)
    print(f"{report['model']} ({report['weights']}) on {args.root}: "
          f"top-1 {100 * report['top1_accuracy']:.2f}%  "
          f"top-5 {100 * report['top5_accuracy']:.2f}%  loss {report['loss']:.4f}  "
          f"({report['images']} images, {len(report['classes'])} classes)")
    return print_classes_and_files(report, 24)


def cmd_predict(args: argparse.Namespace) -> int:
    from .train.inference import predict_files
    from .train.published import predict_published

    if _published_source(args, args.checkpoint, "--checkpoint"):
        predictions = predict_published(args.model, args.weights or "imagenet", args.images,
                                        args.topk)
    else:
        predictions = predict_files(args.checkpoint, args.images, args.topk)
    for path, preds in predictions:
        print(path)
        for name, prob in preds:
            print(f"  {name:>16}  {100 * prob:6.2f}%")
    return 0


def cmd_average(args: argparse.Namespace) -> int:
    from .train.checkpoint_average import average_checkpoints

    done = average_checkpoints(args.checkpoints, args.out, bn_update=args.bn_update,
                               root=args.root)
    print(f"averaged {done['models']} checkpoints of {done['model_name']}: {done['path']}")
    if args.bn_update:
        print(f"BatchNorm statistics re-estimated over {done['bn_batches']} training batches")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models.summary import format_markdown, format_table, model_rows

    rows = model_rows(args.pattern)
    if not rows:
        raise ResnetsError(f"no model matches {args.pattern!r}; try `resnets models`")
    print(format_markdown(rows) if args.markdown else format_table(rows))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .bench import SuiteConfig, run_suite
    from .files import check_writable, write_text_atomic

    from .train.setup import resolve_device

    device = str(resolve_device(args.device))  # e.g. cuda without a GPU fails here
    cfg = SuiteConfig(models=tuple(m for m in args.models.split(",") if m), device=device,
                      train_batch=args.train_batch,
                      infer_batch=args.infer_batch, seconds=args.seconds,
                      compile=not args.no_compile, checkpointing=not args.no_checkpointing,
                      threads=args.threads, rounds=args.rounds)
    out = Path(args.out)
    check_writable(out.parent)  # before minutes of measuring, not after
    result = run_suite(cfg)
    write_text_atomic(out, json.dumps(result, indent=2) + "\n")
    for case in result["summary"]["slower_than_reference"]:
        print(f"warning: a fast path is slower than its reference here: {case}")
    print(f"results: {out} (render: python benchmarks/render_performance.py {out})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_command

    for line in export_command(args.source, args.model, args.weights, args.format, args.out,
                               args.fuse, args.batch):
        print(line)
    return 0


def cmd_recipes(args: argparse.Namespace) -> int:
    """The recipes of every task (or of ``--task``), a heading per task naming the command
    that runs them; ``--show NAME``: one recipe's resolved configuration."""
    from .train.recipes import recipe_listing, recipe_text

    print(recipe_text(args.show) if args.show else "\n".join(recipe_listing(args.task)))
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from .experiments.command import main

    return main(args)


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
            "average": cmd_average, "models": cmd_models, "recipes": cmd_recipes,
            "bench": cmd_bench, "export": cmd_export, "experiment": cmd_experiment}


READS_RUN_DATA = ("train", "evaluate", "predict", "average")  # commands that read any data.dataset


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    app = argv[0] if argv and argv[0] in APP_COMMANDS else ""
    try:
        if app:  # the application parses its own arguments
            return run_app(app, argv[1:])
        parser = build_parser()  # imports torch for the bench's options: Ctrl-C may land here
        args = parser.parse_with_settings(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if args.command in READS_RUN_DATA or args.command == "recipes":
            register_applications(tasks=args.command == "recipes")
        return COMMANDS[args.command](args)
    except ResnetsError as exc:
        print(f"resnets{' ' + app if app else ''}: error: {one_line(str(exc))}",
              file=sys.stderr)
        return 2
    except BrokenPipeError:
        return quiet_broken_pipe()
    except KeyboardInterrupt:
        return interrupted(argv[0] if argv else "")


def interrupted(command: str) -> int:
    """Ctrl-C that reached us: while training, the loop saves and says how to resume (it
    exits by itself); anywhere else, as in start-up, there is nothing to save or resume."""
    print(f"resnets {command}: interrupted (Ctrl-C)", file=sys.stderr)
    return 130


def quiet_broken_pipe() -> int:
    """The reader of our output went away (``resnets models | head``): stop without a
    traceback, and keep Python from failing again when it flushes stdout at exit."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 1


if __name__ == "__main__":
    sys.exit(main())

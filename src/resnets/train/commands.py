"""The ``train``, ``evaluate`` and ``predict`` commands of a task that trains through the
engine as ``resnets train`` does (``resnets speech``, ``resnets text``).

Training is ``resnets train`` with the task's defaults and its ``data.dataset`` fixed,
through the same launch path (torchrun, restarts, resume rules); evaluation is
:func:`resnets.train.inference.evaluate_checkpoint`; prediction prints each input's top
classes, with the task's ``encode`` making the model's batch.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from ..errors import ResnetsError
from ..limits import arg, integer
from .config_file import add_config_arguments

Encode = Callable[[Sequence[str], dict, torch.device], torch.Tensor]


def add_train_arguments(parser: argparse.ArgumentParser, default_model: str) -> None:
    """``train``'s flags: the common shorthands, then any ``section.key=value``."""
    parser.add_argument("--root", default=None,
                        help="the data folder (data.root); not needed with --resume")
    parser.add_argument("--resume", metavar="RUN_DIR", default=None,
                        help="continue the run in RUN_DIR (as `resnets train --resume`)")
    parser.add_argument("--model", default=None,
                        help=f"registry name (model.name; default {default_model})")
    parser.set_defaults(default_model=default_model)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (optim.lr)")
    parser.add_argument("--out", default=None, help="parent of run directories (out_dir)")
    parser.add_argument("--name", default=None, help="run directory name (run_name)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="leave unreadable files/rows out and count them instead of failing")
    add_config_arguments(parser, over="this command's defaults")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="any training setting, e.g. optim.weight_decay=1e-4")


def train_command(args: argparse.Namespace, dataset: str, defaults: dict[str, str]) -> int:
    """Train with ``defaults`` for ``dataset``, the flags, then the overrides, or continue the
    run of ``--resume`` with the flags and overrides alone; rank 0 prints a summary.

    The run starts through the one launch path of ``resnets train``: torchrun, restarts and
    the resume rules of :mod:`resnets.train.resume` are the same for every command."""
    from .config_file import config_text
    from .launch import launch

    if args.print_config:  # the resolved settings, nothing read or written
        cfg = train_config(args, dataset, defaults)
        print(config_text(cfg, args.format or "json"), end="")
        return 0
    return launch(lambda: train_config(args, dataset, defaults), args.resume,
                  print_summary)


def train_config(args: argparse.Namespace, dataset: str, defaults: dict[str, str]):
    """The run's configuration: a new run's, or the resumed run's own with the changes.

    Lowest first: ``TrainConfig``'s defaults, this command's ``defaults``, ``--config
    FILE``, the flags, ``key=value``; the dataset and ``source`` are the command's."""
    from .config import TrainConfig, apply_overrides, parse_overrides, validate
    from .config_file import (apply_config_pairs, check_print_config_format,
                                     read_config_file)
    from .setup import load_run_config

    check_print_config_format(args.format, args.print_config)
    flags = {"data.root": args.root, "model.name": args.model, "epochs": args.epochs,
             "batch_size": args.batch_size, "optim.lr": args.lr, "out_dir": args.out,
             "run_name": args.name, "data.skip_corrupt": args.skip_bad or None}
    given = {**{k: str(v) for k, v in flags.items() if v is not None},
             **parse_overrides(args.overrides)}
    if given.get("data.dataset", dataset) != dataset:
        raise ResnetsError(f"`resnets {dataset} train` trains on {dataset} data; drop "
                           "data.dataset= (or use `resnets train`)")
    if args.resume:
        if args.config:
            raise ResnetsError("--resume continues a run with its own config.json; drop "
                               "--config")
        cfg = load_run_config(args.resume)
        if cfg.data.dataset != dataset:
            raise ResnetsError(f"{args.resume} is a run on {cfg.data.dataset} data, not "
                               f"{dataset}; resume it with `resnets train --resume`")
        return apply_overrides(cfg, given)
    where = f"--config {args.config!r}"
    from_file = read_config_file(args.config) if args.config else {}
    if from_file.get("data.dataset", dataset) != dataset:
        raise ResnetsError(f"{where} is for {from_file['data.dataset']} data; "
                           f"`resnets {dataset} train` trains on {dataset} data (use "
                           "`resnets train --config`)")
    if "data.root" not in {**from_file, **given}:
        raise ResnetsError("--root DIR is required: the data folder (or --resume RUN_DIR to "
                           "continue a run)")
    cfg = apply_overrides(TrainConfig(), {**defaults, "model.name": args.default_model})
    cfg = apply_config_pairs(cfg, from_file, where)
    cfg = apply_overrides(cfg, {**given, "data.dataset": dataset,
                                "source": f"resnets {dataset} train"})
    validate(cfg)  # --print-config shows only a configuration that can run
    return cfg


def print_summary(summary: dict) -> None:
    print(f"test accuracy {100 * summary['test_accuracy']:.2f}% after {summary['steps']} "
          f"steps, {summary['train_seconds']:.0f} s; skipped {summary['skipped_files']} "
          f"files or rows")
    print(f"run directory: {summary['run_dir']}")


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="run directory or checkpoint file")
    parser.add_argument("--split", choices=("test", "val"), default="test")
    parser.add_argument("--root", default=None, help="the data folder, if it moved")
    parser.add_argument("--out", default=None, help="where to write the report")


def evaluate_command(args: argparse.Namespace) -> int:
    """Evaluate a run on the data its configuration names (the run's own data pipeline)."""
    from .inference import evaluate_checkpoint

    report = evaluate_checkpoint(args.checkpoint, split=args.split, root=args.root,
                                 out_dir=args.out)
    print(f"{report['split']} accuracy {100 * (1 - report['top1_error']):.2f}%  loss "
          f"{report['loss']:.4f}  ({report['images']} samples)")
    for name, acc in report["per_class_accuracy"].items():
        print(f"  {name:>16}  {100 * acc:6.2f}%")
    print(f"report: {report['report_path']}")
    return 0


def add_predict_arguments(parser: argparse.ArgumentParser, inputs: str, help_text: str) -> None:
    parser.add_argument(inputs, nargs="+", help=help_text)
    parser.add_argument("--checkpoint", required=True, help="run directory or checkpoint file")
    parser.add_argument("--topk", type=arg(integer(1, 1000)), default=3,
                        help="classes to print per input")


def predict_command(args: argparse.Namespace, inputs: Sequence[str], dataset: str,
                    encode: Encode) -> int:
    """Print the ``--topk`` classes of each input; ``encode`` makes the model's batch."""
    from .inference import load_trained

    device = torch.device("cpu")
    model, state, cfg = load_trained(args.checkpoint, device)
    if cfg.data.dataset != dataset:
        raise ResnetsError(f"{args.checkpoint} was trained on {cfg.data.dataset!r} data, not "
                           f"{dataset}")
    batch = encode(inputs, state, device)  # checks every input before the model runs
    with torch.no_grad():
        probs = model(batch).softmax(1)
    top = probs.topk(min(args.topk, probs.shape[1]), dim=1)
    for item, values, indices in zip(inputs, top.values, top.indices):
        print(item if len(item) <= 70 else item[:67] + "...")
        for p, k in zip(values.tolist(), indices.tolist()):
            print(f"  {state['classes'][k]:>16}  {100 * p:6.2f}%")
    return 0


@dataclass(frozen=True)
class TaskCommands:
    """What a task's ``train``, ``evaluate`` and ``predict`` need to know of it."""

    dataset: str  # data.dataset of its runs, and its word: `resnets speech train`
    defaults: dict[str, str]  # its settings over TrainConfig's, below --config and the flags
    default_model: str
    trains: str  # train's help, e.g. "train a keyword spotter"
    predicts: str  # predict's help
    inputs: str  # predict's positional argument, e.g. "files"
    inputs_help: str
    encode: Encode  # (inputs, checkpoint state, device) -> the model's batch

    def add_parsers(self, sub: argparse._SubParsersAction) -> None:
        add_train_arguments(sub.add_parser("train", help=self.trains), self.default_model)
        add_evaluate_arguments(sub.add_parser("evaluate", help="evaluate a trained run"))
        add_predict_arguments(sub.add_parser("predict", help=self.predicts), self.inputs,
                              self.inputs_help)

    def run(self, args: argparse.Namespace) -> int:
        """Run the ``train``, ``evaluate`` or ``predict`` command that ``args`` names."""
        if args.command == "train":
            return train_command(args, self.dataset, self.defaults)
        if args.command == "evaluate":
            return evaluate_command(args)
        return predict_command(args, getattr(args, self.inputs), self.dataset, self.encode)

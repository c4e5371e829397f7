"""The ``train``, ``evaluate`` and ``predict`` commands of a task that trains through the
engine as ``resnets train`` does (``resnets speech``, ``resnets text``).

Training is ``resnets train`` from the task's recipe with its ``data.dataset`` fixed,
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
from .command import TrainCommand, add_arguments, run

Encode = Callable[[Sequence[str], dict, torch.device], torch.Tensor]


# The shorthand flags of `resnets speech train` and `resnets text train`.
TRAIN_FLAGS = {"root": "data.root", "model": "model.name", "epochs": "epochs",
               "batch_size": "batch_size", "lr": "optim.lr", "out": "out_dir",
               "name": "run_name", "skip_bad": "data.skip_corrupt"}


def train_command(dataset: str, recipe: str) -> TrainCommand:
    """``resnets DATASET train``: ``resnets train`` on ``dataset`` data, from the application's
    ``recipe`` (its papers' setup, registered by its package); the same launch, resume rules
    and torchrun as every training command (:mod:`resnets.train.command`)."""
    from .config import TrainConfig

    return TrainCommand(f"resnets {dataset} train", TrainConfig, TRAIN_FLAGS,
                        fixed={"data.dataset": dataset},
                        required={"data.root": "the data folder"}, default_recipe=recipe)


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
    from .calibration_report import print_calibration_and_class_scores
    from .inference import evaluate_checkpoint

    report = evaluate_checkpoint(args.checkpoint, split=args.split, root=args.root,
                                 out_dir=args.out)
    print(f"{report['split']} accuracy {100 * (1 - report['top1_error']):.2f}%  loss "
          f"{report['loss']:.4f}  ({report['images']} samples)")
    for name, acc in report["per_class_accuracy"].items():
        print(f"  {name:>16}  {100 * acc:6.2f}%")
    print_calibration_and_class_scores(report)
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
    recipe: str  # what train runs, below --config and the flags (`resnets recipes`)
    trains: str  # train's help, e.g. "train a keyword spotter"
    predicts: str  # predict's help
    inputs: str  # predict's positional argument, e.g. "files"
    inputs_help: str
    encode: Encode  # (inputs, checkpoint state, device) -> the model's batch

    def train(self) -> TrainCommand:
        return train_command(self.dataset, self.recipe)

    def add_parsers(self, sub: argparse._SubParsersAction) -> None:
        add_arguments(sub.add_parser("train", help=self.trains), self.train())
        add_evaluate_arguments(sub.add_parser("evaluate", help="evaluate a trained run"))
        add_predict_arguments(sub.add_parser("predict", help=self.predicts), self.inputs,
                              self.inputs_help)

    def run(self, args: argparse.Namespace) -> int:
        """Run the ``train``, ``evaluate`` or ``predict`` command that ``args`` names."""
        if args.command == "train":
            return run(args, self.train(), print_summary)
        if args.command == "evaluate":
            return evaluate_command(args)
        return predict_command(args, getattr(args, self.inputs), self.dataset, self.encode)

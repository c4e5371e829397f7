"""Pieces the speech and text applications share: an in-memory sample set and the CLI.

:class:`Samples` holds any per-sample tensor (int16 clips, token ids) with its labels; it
has the surface :class:`resnets.data.InMemoryLoader` and :func:`resnets.data.split_train_val`
use (``images``, ``labels``, ``classes``, ``subset``), so both applications train through the
same loader and engine as the image datasets.

The CLI helpers give ``resnets speech`` and ``resnets text`` the same ``train``,
``evaluate`` and ``predict`` commands: training is ``resnets train`` with the application's
defaults, evaluation is :func:`resnets.train.inference.evaluate_checkpoint`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from ..errors import DataError, ResnetsError
from ..limits import arg, integer


@dataclass
class Samples:
    """Per-sample tensors (N x ...), int64 labels (N) and the class names in label order."""

    images: torch.Tensor  # int16 clips or int64 token ids: whatever the loader serves
    labels: torch.Tensor
    classes: list[str]

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise DataError(f"{len(self.images)} samples but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices: torch.Tensor) -> Samples:
        index = torch.as_tensor(indices, dtype=torch.long)
        return Samples(self.images[index], self.labels[index], list(self.classes))


# The shorthand flags of `resnets speech train` and `resnets text train`.
TRAIN_FLAGS = {"root": "data.root", "model": "model.name", "epochs": "epochs",
               "batch_size": "batch_size", "lr": "optim.lr", "out": "out_dir",
               "name": "run_name", "skip_bad": "data.skip_corrupt"}


def train_command(dataset: str, default_model: str, defaults: dict[str, str]):
    """``resnets DATASET train``: ``resnets train`` on ``dataset`` data with the application's
    ``defaults`` (its papers' recipe) and ``default_model``; the same launch, resume rules
    and torchrun as every training command (:mod:`resnets.train.command`)."""
    from ..train.command import TrainCommand
    from ..train.config import TrainConfig

    return TrainCommand(f"resnets {dataset} train", TrainConfig, TRAIN_FLAGS,
                        defaults={**defaults, "model.name": default_model,
                                  "source": f"resnets {dataset} train"},
                        fixed={"data.dataset": dataset},
                        required={"data.root": "the data folder"})


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
    from ..train.inference import evaluate_checkpoint

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
                    encode: Callable[[Sequence[str], dict, torch.device], torch.Tensor]) -> int:
    """Print the ``--topk`` classes of each input; ``encode`` makes the model's batch."""
    from ..train.inference import load_trained

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

"""The command-line pieces that ``resnets detect`` and ``resnets segment`` share: ``synth``,
the ``train`` command's flags of the engine's settings and the options that moved, the
``evaluate`` and ``predict`` parsers, and how their results are reported."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from ..data.destination import add_force_option
from ..data.shapes import ShapesConfig, write_shapes
from ..files import write_text_atomic
from ..limits import DEVICE, SEED, Parser, arg, integer
from .command import TrainCommand, add_arguments, add_config_args, config_from_args
from .config import sections

# The flags of the detection and segmentation train commands that set engine settings,
# spelled as they were before those commands trained through the engine.
ENGINE_FLAGS = {"steps": "iterations", "batch_size": "batch_size", "optimizer": "optim.name",
                "lr": "optim.lr", "momentum": "optim.momentum",
                "weight_decay": "optim.weight_decay", "warmup_iters": "schedule.warmup_iters",
                "clip_grad": "optim.grad_clip", "seed": "seed", "device": "device",
                "out_dir": "out_dir", "run_name": "run_name"}
# Options whose meaning changed: each is refused with its new spelling.
RENAMED = {"eval-every": "eval_every=N evaluates every N epochs (0: after the last only)",
           "log-every": "a metrics row is written after every epoch"}


def dense_train_command(word: str, config_class: type, data_flags: tuple[str, ...],
                        model_section: str, what: str,
                        renamed: dict[str, str] | None = None) -> TrainCommand:
    """``resnets WORD train``: ``--FIELD`` for each setting of ``data_flags`` (``data.*``),
    of the model's section (``detector.*``) and the engine's flags as they were spelled;
    ``what`` the training and validation data are (new runs need both)."""
    model = sections(config_class)[model_section]
    flags = {**{f: f"data.{f}" for f in (*data_flags, "skip_bad", "workers")},
             **ENGINE_FLAGS,
             **{f.name: f"{model_section}.{f.name}" for f in dataclasses.fields(model)}}
    return TrainCommand(f"resnets {word} train", config_class, flags,
                        defaults={"source": f"resnets {word} train"},
                        required={"data.train": f"the {what} of the training images",
                                  "data.val": f"the {what} of the validation images"},
                        renamed={**RENAMED, **(renamed or {})}, recipes=True)


def add_synth_parser(sub: argparse._SubParsersAction, task: str) -> None:
    """``synth ROOT``: write the synthetic shapes set of ``task``."""
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


def add_device_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", type=arg(DEVICE),
                   help="auto | cpu | cuda | cuda:N | mps")


def build_task_parser(prog: str, description: str, task: str, command: TrainCommand,
                      helps: tuple[str, str, str]
                      ) -> tuple[Parser, argparse.ArgumentParser, argparse.ArgumentParser]:
    """``resnets detect|segment`` with ``synth`` and ``train``; returns the parser and the
    ``evaluate`` and ``predict`` parsers with the options they share. ``helps``: what
    train, evaluate and predict do."""
    trains, evaluates, predicts = helps
    parser = Parser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add_synth_parser(sub, task)
    add_arguments(sub.add_parser("train", help=trains), command)
    evaluate, predict = add_run_parsers(sub, evaluates, predicts)
    evaluate.add_argument("--skip-bad", action="store_true", help="skip and count bad inputs")
    return parser, evaluate, predict


def add_run_parsers(sub: argparse._SubParsersAction, evaluates: str, predicts: str
                    ) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The ``evaluate`` and ``predict`` parsers of a trained run, with the options every
    task's share (``evaluates``, ``predicts``: what they do)."""
    evaluate = sub.add_parser("evaluate", help=evaluates)
    evaluate.add_argument("checkpoint", help="run directory or checkpoint file")
    add_device_option(evaluate)
    evaluate.add_argument("--out", help="also write the metrics to this JSON file")
    predict = sub.add_parser("predict", help=predicts)
    predict.add_argument("images", nargs="+", help="image files")
    predict.add_argument("--checkpoint", required=True, help="run directory or checkpoint file")
    predict.add_argument("--out", default="predictions", help="folder for what is written")
    add_device_option(predict)
    return evaluate, predict


def parse_checked(parser: Parser, argv: list[str]) -> argparse.Namespace:
    """The arguments, with the device checked before any data or checkpoint is read."""
    from .device import resolve_device

    args = parser.parse_with_settings(argv)
    if args.action != "train" and getattr(args, "device", None):
        resolve_device(args.device)  # e.g. mps or cuda:7 on a machine without them
    return args


def print_summary(summary: dict[str, Any]) -> None:
    print(json.dumps(summary, indent=2))


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

"""``resnets text``: character-level text classification on AG News-style CSV files.

    resnets text demo OUT_DIR                         a generated four-topic set
    resnets text train --root DIR [--model vdcnn9] [key=value ...]
    resnets text train --resume RUN_DIR               continue a run (no --root)
    resnets text evaluate RUN_DIR                     accuracy per class, confusion matrix
    resnets text predict "some text" ... --checkpoint RUN_DIR
"""

from __future__ import annotations

import argparse
from typing import Sequence

import torch

from ..data.destination import add_force_option
from ..errors import ResnetsError
from ..limits import Parser, field_arg
from ..train.commands import TaskCommands
from .data import VOCABULARY
from .demo import TextDemoConfig, make_text_demo


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="resnets text", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub.add_parser("demo", help="write the generated demo set (AG News CSV format)")
    p.add_argument("out", help="folder to create")
    for name in ("train_per_class", "test_per_class", "seed"):
        p.add_argument(f"--{name.replace('_', '-')}", type=field_arg(TextDemoConfig, name),
                       default=getattr(TextDemoConfig, name))
    add_force_option(p)
    COMMANDS.add_parsers(sub)
    return parser


def encode_texts(texts: Sequence[str], state: dict, device: torch.device) -> torch.Tensor:
    if state["in_chans"] != len(VOCABULARY):
        raise ResnetsError(f"the checkpoint's vocabulary has {state['in_chans']} ids, this "
                           f"version's {len(VOCABULARY)}; retrain the model")
    if not all(t.strip() for t in texts):
        raise ResnetsError("an empty text cannot be classified; pass some words")
    return VOCABULARY.encode(list(texts)).long().to(device)


COMMANDS = TaskCommands("text", "ag-news-vdcnn9", "train a text classifier",
                        "the classes of texts", "texts", "texts to classify (quote each)",
                        encode_texts)


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_with_settings(argv)
    if args.command == "demo":
        counts = make_text_demo(args.out, TextDemoConfig(
            train_per_class=args.train_per_class, test_per_class=args.test_per_class,
            seed=args.seed), args.force)
        print(f"wrote {args.out}: {counts['train']} training and {counts['test']} test rows")
        return 0
    return COMMANDS.run(args)

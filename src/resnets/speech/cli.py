"""``resnets speech``: keyword spotting on a Speech Commands folder.

    resnets speech demo OUT_DIR                       spoken words from espeak-ng
    resnets speech train --root DIR [--model res8] [key=value ...]
    resnets speech train --resume RUN_DIR             continue a run (no --root)
    resnets speech evaluate RUN_DIR                   accuracy per word, confusion matrix
    resnets speech predict FILE.wav ... --checkpoint RUN_DIR
"""

from __future__ import annotations

import argparse
from typing import Sequence

import numpy as np
import torch

from ..data.destination import add_force_option
from ..limits import Parser, field_arg
from ..train.commands import TaskCommands
from .commands import clip_to_int16, load_clip
from .data import FEATURES
from .demo import DemoConfig, make_demo
from .features import Featurizer


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="resnets speech", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub.add_parser("demo", help="write the espeak-ng demo set (Speech Commands layout)")
    p.add_argument("out", help="folder to create")
    p.add_argument("--clips-per-word", type=field_arg(DemoConfig, "clips_per_word"),
                   default=DemoConfig.clips_per_word)
    p.add_argument("--seed", type=field_arg(DemoConfig, "seed"), default=0)
    add_force_option(p)
    COMMANDS.add_parsers(sub)
    return parser


def encode_clips(files: Sequence[str], state: dict, device: torch.device) -> torch.Tensor:
    """WAV files -> normalised 1 x 40 x 101 spectrograms, as the run's test data saw them."""
    clips = torch.from_numpy(np.stack([clip_to_int16(load_clip(f, FEATURES),
                                                     FEATURES.clip_samples) for f in files]))
    features = Featurizer(device, FEATURES)(clips.to(device))
    return (features - state["mean"][0]) / state["std"][0]


COMMANDS = TaskCommands("speech", "speech-commands-res8", "train a keyword spotter",
                        "the words in WAV files", "files",
                        "WAV files (16-bit PCM or 32-bit float)", encode_clips)


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_with_settings(argv)
    if args.command == "demo":
        counts = make_demo(args.out, DemoConfig(clips_per_word=args.clips_per_word,
                                                seed=args.seed), force=args.force)
        print(f"wrote {counts['words']} words to {args.out}: {counts['train']} train, "
              f"{counts['val']} validation, {counts['test']} test clips")
        return 0
    return COMMANDS.run(args)

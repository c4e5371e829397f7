"""``resnets gan train|sample``: residual GANs from the command line.

    resnets gan train --recipe digits-cgan --classifier runs/digits-resnet20-...
    resnets gan train --resume runs/digits-cgan-...          continue a run
    resnets gan sample runs/digits-cgan-... --out grid.png    a grid of the EMA generator
"""

from __future__ import annotations

from ..limits import SEED, Parser, arg, integer
from ..train.command import TrainCommand, add_arguments, run
from ..train.task_cli import add_device_option, print_summary
from .config import GanConfig

TRAIN = TrainCommand(
    "resnets gan train", GanConfig,
    {"classifier": "eval.classifier", "epochs": "epochs", "steps": "iterations",
     "batch_size": "batch_size", "lr": "optim.lr", "d_lr": "d_optim.lr",
     "n_dis": "gan.n_dis", "seed": "seed", "device": "device", "out_dir": "out_dir",
     "run_name": "run_name"},
    defaults={"source": "resnets gan train"}, recipes=True)


def build_parser() -> Parser:
    parser = Parser(prog="resnets gan", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add_arguments(sub.add_parser("train", help="train a residual GAN"), TRAIN)
    sample = sub.add_parser("sample", help="write a grid of samples of a trained GAN")
    sample.add_argument("checkpoint", help="run directory or checkpoint file")
    sample.add_argument("--out", default="samples.png", help="PNG file to write")
    sample.add_argument("--columns", type=arg(integer(1, 64)), default=None,
                        help="samples per class (row); default: the run's eval.grid_columns")
    sample.add_argument("--seed", type=arg(SEED), default=0, help="seed of the noise")
    add_device_option(sample)
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_with_settings(argv)
    from . import task  # noqa: F401 (registers the task of GanConfig)

    if args.action == "train":
        return run(args, TRAIN, print_summary)
    from .sample import sample_grid

    path = sample_grid(args.checkpoint, args.out, args.columns, args.seed, args.device)
    print(f"wrote {path}")
    return 0

"""``resnets translate synth|train|predict``: paired image-to-image translation (pix2pix).

    resnets translate synth data/pairs                 shapes: images (A) -> label maps (B)
    resnets translate train --train data/pairs/train --val data/pairs/val
    resnets translate train --resume runs/translate-...          continue a run
    resnets translate predict --checkpoint runs/translate-... A/*.png --out predicted/
"""

from __future__ import annotations

from ..data.destination import add_force_option
from ..limits import SEED, Parser, arg, choice, integer
from ..train.command import TrainCommand, add_arguments, run
from ..train.task_cli import add_device_option, print_summary, report_written
from .config import TranslateConfig

TRAIN = TrainCommand(
    "resnets translate train", TranslateConfig,
    {"train": "data.train", "val": "data.val", "epochs": "epochs", "steps": "iterations",
     "batch_size": "batch_size", "lr": "optim.lr", "d_lr": "d_optim.lr", "seed": "seed",
     "device": "device", "out_dir": "out_dir", "run_name": "run_name"},
    defaults={"source": "resnets translate train"},
    required={"data.train": "the folder of the training pairs (A/ and B/)",
              "data.val": "the folder of the held-out pairs (A/ and B/)"})


def build_parser() -> Parser:
    parser = Parser(prog="resnets translate", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    synth = sub.add_parser("synth", help="write the demo pairs: shapes' images -> label maps")
    synth.add_argument("root", help="folder to write train/ and val/ into")
    count = arg(integer(1, 1_000_000))
    synth.add_argument("--num-train", type=count, default=400, help="training pairs")
    synth.add_argument("--num-val", type=count, default=100, help="held-out pairs")
    synth.add_argument("--image-size", type=arg(choice(16, 32, 64, 128, 256)), default=32,
                       help="side of every image, pixels")
    synth.add_argument("--seed", type=arg(SEED), default=0, help="random seed of the scenes")
    add_force_option(synth)
    add_arguments(sub.add_parser("train", help="train a translator on paired folders"), TRAIN)
    predict = sub.add_parser("predict", help="translate A images, write the B images")
    predict.add_argument("images", nargs="+", help="A image files")
    predict.add_argument("--checkpoint", required=True, help="run directory or checkpoint file")
    predict.add_argument("--out", default="translated", help="folder for the B images")
    add_device_option(predict)
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_with_settings(argv)
    if args.action == "synth":
        from .data import write_demo_pairs

        root = write_demo_pairs(args.root, args.num_train, args.num_val, args.image_size,
                                args.seed, args.force)
        print(f"wrote {args.num_train} train and {args.num_val} val pairs to {root}")
        return 0
    from . import task  # noqa: F401 (registers the task of TranslateConfig)

    if args.action == "train":
        return run(args, TRAIN, print_summary)
    from .predict import predict_images

    report_written(predict_images(args.checkpoint, args.images, args.out, args.device))
    return 0

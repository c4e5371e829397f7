"""`resnets experiment`: from the command line's flags to an experiment run."""

from __future__ import annotations

import argparse

from ..errors import ResnetsError
from ..limits import DEVICE, arg
from .names import NAMES

# Imported by the parser of every command: the experiments (and torch) load only when run.


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``experiment [--resume DIR]`` and ``experiment NAME [flags] [key=value ...]``."""
    p.add_argument("--resume", metavar="DIR", help="continue the experiment in DIR")
    sub = p.add_subparsers(dest="name", metavar="NAME")
    for name, summary in NAMES.items():
        q = sub.add_parser(name, help=summary.replace("%", "%%"), description=summary)
        q.add_argument("--out", help="experiment directory (default: "
                       "runs/experiments/NAME-DATA); the same command again continues it")
        q.add_argument("--data", help="digits (default) | synthetic | cifar10 | cifar100 | "
                       "folder")
        q.add_argument("--root", help="dataset folder (cifar10, cifar100, folder)")
        q.add_argument("--budget", help="training length of each run: N steps or Ne epochs")
        q.add_argument("--seeds", help="a count (3 = seeds 0,1,2) or a list (0,5)")
        q.add_argument("--depths", help="network depths, e.g. 20,32,44,56 (CIFAR ResNets: 6n+2; "
                       "transformer-skips: blocks, e.g. 2,6,12)")
        q.add_argument("--with-1202", action="store_true", default=None,
                       help="gradients: add the 1202-layer residual network (heavy)")
        q.add_argument("--runs", help="lesion: trained run directories (comma-separated) to "
                       "lesion instead of training its own")
        q.add_argument("--device", type=arg(DEVICE),
                       help="auto (default) | cpu | cuda | cuda:N | mps")
        q.add_argument("overrides", nargs="*", metavar="key=value",
                       help="training settings for every run, e.g. optim.lr=0.05")


def config_from_args(args: argparse.Namespace):
    """The experiment's settings and output directory, checked before any work."""
    from .settings import ExperimentConfig, load_settings, parse_int_list, parse_seeds

    if args.resume:
        if args.name:
            raise ResnetsError(f"--resume continues the experiment in {args.resume!r} with its "
                               f"own settings; drop {args.name} and what follows")
        cfg = load_settings(args.resume)
        if cfg is None:
            raise ResnetsError(f"{args.resume!r} is not an experiment directory (no "
                               "experiment.json)")
        return cfg, args.resume
    if not args.name:
        raise ResnetsError(f"name the experiment: resnets experiment {' | '.join(NAMES)} "
                           "(or --resume DIR)")
    fields = {k: getattr(args, k) for k in ("data", "root", "budget", "device")
              if getattr(args, k) is not None}
    if args.seeds is not None:
        fields["seeds"] = parse_seeds(args.seeds)
    if args.depths is not None:
        fields["depths"] = parse_int_list("--depths", args.depths)
    if args.runs is not None:
        fields["runs"] = tuple(run for run in args.runs.split(",") if run)
    cfg = ExperimentConfig(args.name, with_1202=bool(args.with_1202),
                           overrides=tuple(args.overrides), **fields)
    return cfg, args.out


def main(args: argparse.Namespace) -> int:
    from .catalog import run_experiment

    cfg, out = config_from_args(args)
    report, lines = run_experiment(cfg, out)
    for line in lines:
        print(line)
    print(f"report: {report}")
    return 0

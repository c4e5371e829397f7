"""`resnets continual`: train one network on a sequence of class-incremental tasks.

A train command of the engine (:mod:`resnets.train.command`): its options are generated from
:class:`~resnets.continual.config.ContinualConfig` (each flag sets a key, ``key=value`` sets
any), with ``--config``, ``--print-config``, ``--recipe`` and ``--resume RUN_DIR``, and it runs
under torchrun. ``--strategy`` takes one strategy or a comma-separated list; a list trains
each in turn (same data, seed and settings, one run directory each) and ends with a
comparison table.
"""

from __future__ import annotations

import argparse

from ..errors import ResnetsError
from ..limits import Parser
from ..train.command import TrainCommand, add_arguments, resolve_config
from ..train.config_file import config_text
from ..train.launch import launch
from . import task  # noqa: F401 (registers the continual task)
from .config import ContinualConfig
from .runner import run_continual
from .strategies import STRATEGIES

# The options `resnets continual` has always had, and the keys they set now.
FLAGS = {
    "strategy": "continual.strategy", "data": "continual.data", "root": "continual.root",
    "tasks": "continual.tasks", "class_order_seed": "continual.class_order_seed",
    "model": "continual.model", "memory": "continual.memory",
    "memory_policy": "continual.memory_policy", "ewc_lambda": "continual.ewc_lambda",
    "fisher_samples": "continual.fisher_samples", "lwf_alpha": "continual.lwf_alpha",
    "lwf_temperature": "continual.lwf_temperature",
    "synthetic_size": "continual.synthetic_size", "resize": "continual.resize",
    "epochs": "epochs", "batch_size": "batch_size", "lr": "optim.lr",
    "momentum": "optim.momentum", "weight_decay": "optim.weight_decay",
    "eval_batch_size": "eval_batch_size", "seed": "seed", "device": "device",
    "out": "out_dir", "run_name": "run_name", "name": "run_name",
}
COMMAND = TrainCommand("resnets continual", ContinualConfig, FLAGS, recipes=True)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="resnets continual", description="Class-incremental continual learning: the "
        "classes arrive a few at a time; prints and writes the accuracy matrix, average "
        "accuracy, forgetting and backward transfer.")
    add_arguments(parser, COMMAND)
    parser.add_argument("--no-augment", action="store_true",
                        help="train on the images as they are (continual.augment=false)")
    return parser


def strategies_of(args: argparse.Namespace) -> list[str | None]:
    """The strategies ``--strategy`` names (None: the configuration's)."""
    if args.strategy is None:
        return [None]
    names = [s.strip() for s in args.strategy.split(",") if s.strip()]
    if not names:
        raise ResnetsError(f"--strategy is empty; choose from {', '.join(STRATEGIES)}")
    if len(set(names)) != len(names):
        raise ResnetsError(f"--strategy {args.strategy!r} names a strategy twice")
    refusals = ((args.run_name or args.name, "--run-name names one run; drop it to compare "
                 "several strategies (each gets continual-STRATEGY-DATA)"),
                (args.print_config, "--print-config prints the config of one run; name one "
                 "--strategy"),
                (args.resume, "--resume continues one run (its own strategy); drop --strategy"))
    for given, refusal in refusals:
        if given and len(names) > 1:
            raise ResnetsError(refusal)
    return names


def comparison_table(summaries: list[dict]) -> str:
    """The final scores of several runs as a markdown table, in percent."""
    lines = ["| strategy | average accuracy (%) | forgetting (%) | backward transfer (%) |",
             "|---|---:|---:|---:|"]
    lines += [f"| {s['strategy']} | {100 * s['average_accuracy']:.2f} | "
              f"{100 * s['forgetting']:.2f} | {100 * s['backward_transfer']:+.2f} |"
              for s in summaries]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = build_parser().parse_with_settings(argv)
    if args.no_augment:
        args.overrides.append("continual.augment=false")
    summaries: list[dict] = []

    def report(summary: dict) -> None:
        summaries.append(summary)
        print(f"average accuracy {100 * summary['average_accuracy']:.2f}%, forgetting "
              f"{100 * summary['forgetting']:.2f}%, backward transfer "
              f"{100 * summary['backward_transfer']:+.2f}% ({summary['train_seconds']:.0f} s)")
        print(f"run directory: {summary['run_dir']}", flush=True)

    def runner(cfg: ContinualConfig, resume_dir, env) -> dict:
        if env.rank == 0:
            c = cfg.continual
            print(f"== {c.strategy} on {c.data}, {c.tasks} tasks", flush=True)
        return run_continual(cfg, resume_dir, env=env,
                             echo=lambda line: print(line, flush=True))

    names = strategies_of(args)
    for name in names:
        one = argparse.Namespace(**{**vars(args), "strategy": name})
        if args.print_config:  # the resolved settings, nothing read or written
            print(config_text(resolve_config(one, COMMAND), args.format or "json"), end="")
            continue
        status = launch(lambda: resolve_config(one, COMMAND), args.resume, report, runner)
        if status:
            return status
    if len(summaries) > 1:
        print(comparison_table(summaries))
    return 0

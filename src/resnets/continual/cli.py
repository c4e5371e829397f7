"""`resnets continual`: train one network on a sequence of class-incremental tasks.

``--strategy`` takes one strategy or a comma-separated list; a list trains each in turn (same
data, seed and settings, one run directory each) and ends with a comparison table.
"""

from __future__ import annotations

import argparse
import dataclasses

from ..errors import ResnetsError
from ..limits import Parser, field_arg
from ..train.config_file import (add_config_arguments, check_limits, check_print_config_format,
                                 config_text, options_given, read_config_file)
from .runner import DATASETS, ContinualConfig, check_config, run_continual
from .strategies import MEMORY_POLICIES, STRATEGIES

DEFAULTS = ContinualConfig()


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="resnets continual", description="Class-incremental continual learning: the "
        "classes arrive a few at a time; prints and writes the accuracy matrix, average "
        "accuracy, forgetting and backward transfer.")

    def add(flag: str, **options) -> None:
        """An option; one that sets a config field parses with that field's limit (the
        strategy is a list of them, checked per config)."""
        name = flag.removeprefix("--").replace("-", "_")
        if name in ContinualConfig.LIMITS and name != "strategy" and "action" not in options:
            options["type"] = field_arg(ContinualConfig, name)
        p.add_argument(flag, **options)

    add("--strategy", default=DEFAULTS.strategy,
        help=f"{' | '.join(STRATEGIES)}, or a comma-separated list to compare")
    add("--data", default=DEFAULTS.data, help=" | ".join(DATASETS))
    add("--root", default=DEFAULTS.root, help="folder holding the CIFAR files")
    add("--tasks", default=DEFAULTS.tasks, help="tasks the classes are split into")
    add("--class-order-seed", default=DEFAULTS.class_order_seed,
        help="-1: classes in label order (default); else a seeded shuffle")
    add("--model", default=DEFAULTS.model, help="registry name (default resnet20)")
    add("--epochs", default=DEFAULTS.epochs, help="epochs per task")
    add("--batch-size", default=DEFAULTS.batch_size)
    add("--lr", default=DEFAULTS.lr, help="peak lr of each task (cosine decay)")
    add("--momentum", default=DEFAULTS.momentum)
    add("--weight-decay", default=DEFAULTS.weight_decay)
    add("--eval-batch-size", default=DEFAULTS.eval_batch_size)
    add("--no-augment", action="store_true", help="train on the images as they are")
    add("--memory", default=DEFAULTS.memory, help="replay: images kept")
    add("--memory-policy", default=DEFAULTS.memory_policy, help=" | ".join(MEMORY_POLICIES))
    add("--ewc-lambda", default=DEFAULTS.ewc_lambda, help="ewc: penalty strength")
    add("--fisher-samples", default=DEFAULTS.fisher_samples,
        help="ewc: images per task for the Fisher information")
    add("--lwf-alpha", default=DEFAULTS.lwf_alpha,
        help="lwf: weight of the distillation loss")
    add("--lwf-temperature", default=DEFAULTS.lwf_temperature,
        help="lwf: distillation temperature")
    add("--synthetic-size", default=DEFAULTS.synthetic_size,
        help="synthetic data: training images")
    add("--resize", default=DEFAULTS.resize,
        help="resize the images once to this side (-1: digits 16, others as stored)")
    add("--seed", default=DEFAULTS.seed)
    add("--device", default=DEFAULTS.device, help="auto | cpu | cuda | cuda:N | mps")
    add("--out", default=DEFAULTS.out, help="parent folder of the run directories")
    add("--run-name", default="", help="run directory name (one strategy only)")
    add_config_arguments(p)
    return p


def with_config_file(args: argparse.Namespace, argv: list[str],
                     parser: argparse.ArgumentParser) -> argparse.Namespace:
    """``args`` with the settings of ``--config FILE`` (a run's config.json, or any part of
    it) wherever ``argv`` gave no option."""
    if not args.config:
        return args
    where = f"--config {args.config!r}"
    settings = read_config_file(args.config, ContinualConfig)
    check_limits(settings, ContinualConfig.LIMITS, where)
    if "augment" in settings:  # the file's key; --no-augment is its option
        settings["no_augment"] = not settings.pop("augment")
    written = options_given(parser, argv)
    return argparse.Namespace(**{**vars(args), **{k: v for k, v in settings.items()
                                                  if k not in written}})


def configs_from_args(args: argparse.Namespace) -> list[ContinualConfig]:
    """One checked config per strategy named."""
    strategies = [s.strip() for s in args.strategy.split(",") if s.strip()]
    if not strategies:
        raise ResnetsError(f"--strategy is empty; choose from {', '.join(STRATEGIES)}")
    if len(set(strategies)) != len(strategies):
        raise ResnetsError(f"--strategy {args.strategy!r} names a strategy twice")
    if args.run_name and len(strategies) > 1:
        raise ResnetsError("--run-name names one run; drop it to compare several strategies "
                           "(each gets continual-STRATEGY-DATA)")
    common = {f.name: getattr(args, f.name) for f in dataclasses.fields(ContinualConfig)
              if f.name not in ("strategy", "augment")}
    configs = [ContinualConfig(strategy=s, augment=not args.no_augment, **common)
               for s in strategies]
    for cfg in configs:
        check_config(cfg)
    return configs


def comparison_table(summaries: list[dict]) -> str:
    """The final scores of several runs as a markdown table, in percent."""
    lines = ["| strategy | average accuracy (%) | forgetting (%) | backward transfer (%) |",
             "|---|---:|---:|---:|"]
    lines += [f"| {s['strategy']} | {100 * s['average_accuracy']:.2f} | "
              f"{100 * s['forgetting']:.2f} | {100 * s['backward_transfer']:+.2f} |"
              for s in summaries]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_print_config_format(args.format, args.print_config)
    configs = configs_from_args(with_config_file(args, argv, parser))
    if args.print_config:  # the resolved settings, nothing read or written
        if len(configs) > 1:
            raise ResnetsError("--print-config prints the config of one run; name one "
                               "--strategy")
        print(config_text(configs[0], args.format or "json"), end="")
        return 0
    summaries = []
    for cfg in configs:
        print(f"== {cfg.strategy} on {cfg.data}, {cfg.tasks} tasks", flush=True)
        summary = run_continual(cfg, echo=lambda line: print(line, flush=True))
        summaries.append(summary)
        print(f"average accuracy {100 * summary['average_accuracy']:.2f}%, forgetting "
              f"{100 * summary['forgetting']:.2f}%, backward transfer "
              f"{100 * summary['backward_transfer']:+.2f}% ({summary['train_seconds']:.0f} s)")
        print(f"run directory: {summary['run_dir']}", flush=True)
    if len(summaries) > 1:
        print(comparison_table(summaries))
    return 0

"""``resnets prune``: remove channels of a trained run's residual branches, then fine-tune.

    resnets prune runs/digits-r56 --target-macs 0.5 --criterion l1 --epochs 10 --lr 0.01

The run's newest checkpoint is pruned to ``--target-macs`` of its MACs (channels.py), its
kept weights become the start of a new classification run of the same settings plus
``model.branch_widths`` (and any ``key=value`` given), trained by the engine: that run resumes
with ``resnets train --resume RUN_DIR`` and its directory works wherever a run's does
(``resnets evaluate``, ``export``, ``explain``). ``prune.json`` in it records the source, the
criterion and the MACs and parameters before and after.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from ..errors import ResnetsError
from ..files import check_writable, write_text_atomic
from ..limits import Parser, arg, integer, number
from ..weights import save_weights
from ..models.summary import count_macs, count_params
from .channels import CRITERIA, PrunePlan, plan_pruning, pruned_state_dict

FINE_TUNE_EPOCHS = 10
LR_FACTOR = 0.1  # fine-tuning starts at a tenth of the source run's learning rate


def build_parser() -> Parser:
    parser = Parser(prog="resnets prune", description="structured pruning of a run's residual "
                    "branches to a fraction of its MACs, then fine-tuning")
    parser.add_argument("run", metavar="RUN_DIR", help="a classification run directory")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="settings of the fine-tuning run, e.g. optim.weight_decay=1e-4")
    parser.add_argument("--target-macs", type=arg(number(0, 1, open_low=True, open_high=True)),
                        required=True, help="fraction of the MACs to keep, e.g. 0.5")
    parser.add_argument("--criterion", choices=CRITERIA, default="l1",
                        help="l1: filter L1 norms (Li et al. 2017); bn: BatchNorm scales "
                        "(network slimming, Liu et al. 2017; train with model.bn_l1)")
    parser.add_argument("--epochs", type=arg(integer(1, 100_000)), default=FINE_TUNE_EPOCHS,
                        help=f"fine-tuning epochs (default {FINE_TUNE_EPOCHS})")
    parser.add_argument("--lr", type=arg(number(0, 10, open_low=True)), default=None,
                        help="fine-tuning peak learning rate (default: a tenth of the run's)")
    parser.add_argument("--name", default="", help="the new run's directory name "
                        "(default: the source's name + -pruned)")
    parser.add_argument("--out", default="", help="parent of the new run (default: the "
                        "source's parent)")
    return parser


def main(argv: list[str]) -> int:
    from ..train.config import apply_overrides, parse_overrides
    from ..train.inference import load_trained
    from ..train.launch import launch

    args = build_parser().parse_with_settings(argv)
    source = Path(args.run)
    model, state, cfg = load_trained(source, torch.device("cpu"))
    name = args.name or f"{source.resolve().name}-pruned"
    out = Path(args.out) if args.out else source.resolve().parent
    check_writable(out)
    if (out / name).exists():
        raise ResnetsError(f"{str(out / name)!r} exists; give another --name")
    overrides = parse_overrides(args.overrides)  # bad ones fail before the pruning
    pruned, plan = prune_model(model, cfg, state, args.target_macs, args.criterion)
    start = out / f"{name}.start.safetensors"  # written once the settings are known good
    changes = {"model.branch_widths": ",".join(map(str, plan.branch_widths)),
               "model.pretrained": str(start), "model.bn_l1": "0", "run_name": name,
               "out_dir": str(out), "epochs": str(args.epochs), "iterations": "0",
               "optim.lr": str(args.lr or cfg.optim.lr * LR_FACTOR), "recipe": ""}
    tuned = apply_overrides(cfg, {**changes, **overrides})
    save_weights(pruned, start)
    record = {"source": str(source), "criterion": args.criterion,
              "target_macs": args.target_macs, "macs_before": plan.macs_before,
              "macs_after": count_macs(pruned, int(state["image_size"])),
              "params_before": count_params(model),
              "params_after": count_params(pruned), "branch_widths": list(plan.branch_widths)}
    print(f"pruned {record['macs_before']:,} -> {record['macs_after']:,} MACs "
          f"({record['macs_after'] / record['macs_before']:.3f}), "
          f"{record['params_before']:,} -> {record['params_after']:,} parameters")

    def report(summary: dict) -> None:
        write_text_atomic(Path(summary["run_dir"]) / "prune.json",
                          json.dumps(record, indent=2) + "\n")
        accuracy = summary.get("test_accuracy")
        if accuracy is not None:
            print(f"fine-tuned: test accuracy {100 * accuracy:.2f}%")
        print(f"run directory: {summary['run_dir']}")

    return launch(lambda: tuned, None, report)


def prune_model(model: torch.nn.Module, cfg, state: dict, target: float,
                criterion: str) -> tuple[torch.nn.Module, PrunePlan]:
    """The network of the run ``cfg`` (checkpoint ``state``) pruned to ``target`` of the
    MACs, holding the kept weights of ``model``, and the plan that made it."""
    from ..train.setup import build_model

    size, in_chans = int(state["image_size"]), int(state["in_chans"])
    plan = plan_pruning(model, target, criterion, size, in_chans, count_macs(model, size))
    widths = dataclasses.replace(cfg.model, branch_widths=plan.branch_widths)
    pruned = build_model(dataclasses.replace(cfg, model=widths), len(state["classes"]),
                         in_chans, torch.device("cpu"), load_pretrained=False)
    pruned.load_state_dict(pruned_state_dict(model, plan))
    return pruned.eval(), plan

"""Short comparative runs: variants of one network trained with the same recipe and seeds.

* ``shortcuts``: options A (zero-padding), B (projection where the shape changes) and C
  (projection everywhere), He et al. 2015, Table 3. The paper (ImageNet, ResNet-34) finds
  all three far better than plain, B slightly better than A and C marginally better than B.
* ``preact``: the original unit against the pre-activation unit of He et al. 2016
  (ResNet-110 on CIFAR-10: 6.61% vs 6.37% test error, Table 2 of that paper). Both use
  projection shortcut B where the shape changes, so only the unit differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from ..train.checkpoint import CheckpointManager
from ..train.setup import build_model
from .core import Spec
from .report import (curves_rows, error_curves_figure, errors_table, final_errors,
                     group_errors, percent, runs_section, write_csv, write_report)
from .runner import MemberResult
from .settings import Budget, ExperimentConfig, Member, deep_net_overrides, parse_budget

# variant -> (model name at a depth, its shortcut option)
Variants = dict[str, Callable[[int], tuple[str, str]]]

SHORTCUT_VARIANTS: Variants = {option: (lambda d, o=option: ("cifar_resnet", o))
                               for option in ("A", "B", "C")}
PREACT_VARIANTS: Variants = {"original": lambda d: ("cifar_resnet", "B"),
                             "pre-activation": lambda d: (f"preact_resnet{d}", "B")}
PREACT_DEPTHS = (110,)  # the registered pre-activation nets of basic blocks
PAPER_SAYS = {
    "shortcuts": "He et al. 2015, Table 3 (ImageNet, ResNet-34, top-1 error): A 25.03%, "
                 "B 24.52%, C 24.19%; plain-34 28.54%.",
    "preact": "He et al. 2016, Table 2 (CIFAR-10, ResNet-110): original 6.61%, "
              "pre-activation 6.37% test error.",
}


def model_overrides(name: str, shortcut: str, depth: int) -> dict:
    fixed = name != "cifar_resnet"  # a registered name that carries its depth
    return {"model.name": name, "model.shortcut": shortcut,
            **({} if fixed else {"model.depth": depth})}


def make_members(variants: Variants, key: str, deep: bool = False):
    def members(cfg: ExperimentConfig, budget: Budget) -> list[Member]:
        common = deep_net_overrides(cfg) if deep else {}
        out = []
        for variant, pick in variants.items():
            for depth in cfg.depths:
                name, shortcut = pick(depth)
                for seed in cfg.seeds:
                    tag = variant.replace("-", "")
                    out.append(Member(f"{tag}{depth}-seed{seed}",
                                      {key: variant, "depth": depth, "seed": seed},
                                      {**model_overrides(name, shortcut, depth), "seed": seed,
                                       **common}))
        return out
    return members


def parameters(result: MemberResult) -> int:
    """The trained network's parameter count (built as its run built it)."""
    state = CheckpointManager(result.run_dir).load_latest()
    net = build_model(result.config, len(state["classes"]), state["in_chans"],
                      torch.device("cpu"), load_pretrained=False)
    return sum(p.numel() for p in net.parameters())


def make_report(experiment: str, title: str, key: str, variants: Variants):
    def report(cfg: ExperimentConfig, results: list[MemberResult], out: Path,
               command: str) -> list[str]:
        write_csv(out / "curves.csv", curves_rows(results))
        finals = final_errors(results)
        params = {(r.labels[key], r.labels["depth"]): parameters(r) for r in results}
        for row in finals:
            row["parameters"] = params[row[key], row["depth"]]
        write_csv(out / "final_errors.csv", finals)
        groups = group_errors(finals, (key, "depth"))
        panels = [(f"depth {d}", [(v, [r for r in results if r.labels[key] == v
                                       and r.labels["depth"] == d]) for v in variants])
                  for d in cfg.depths]
        error_curves_figure(panels, out / f"{experiment}.png")
        lines = []
        for d in cfg.depths:
            mine = sorted((g for g in groups if g["depth"] == d),
                          key=lambda g: g["test_error_mean"])
            lines.append(f"- Depth {d}, test error from best to worst: " + ", ".join(
                f"{g[key]} {percent(g['test_error_mean'], g['test_error_std'])}%"
                for g in mine) + "; training error: " + ", ".join(
                f"{g[key]} {percent(g['train_error_mean'], g['train_error_std'])}%"
                for g in mine) + ".")
        for group in groups:
            group["parameters"] = f"{params[group[key], group['depth']] / 1e6:.3f}M"
        sections = [
            f"Trained on {cfg.data} for {parse_budget(cfg.budget).text()} with the same recipe "
            f"and seeds ({', '.join(map(str, cfg.seeds))}). The paper: {PAPER_SAYS[experiment]}",
            "## Result\n\n" + "\n".join(lines) + "\n\nA difference smaller than the standard "
            "deviation over seeds (run `--seeds 3` or more to see it) is not a result.",
            f"![training (dashed) and test (solid) error against iterations]({experiment}.png)",
            "## Final errors\n\nMean ± standard deviation over seeds. Raw numbers: "
            "`final_errors.csv` (per run) and `curves.csv` (per epoch).\n\n"
            + errors_table(groups, (key, "depth", "parameters")),
            runs_section(results, out),
        ]
        write_report(out / "report.md", title, command, sections)
        return lines
    return report


SHORTCUTS = Spec("shortcuts", depths=(32,),
                 budgets={"digits": "400", "cifar10": "64000", "cifar100": "64000",
                          "other": "400"},
                 members=make_members(SHORTCUT_VARIANTS, "shortcut"),
                 report=make_report("shortcuts", "Shortcut options A, B and C", "shortcut",
                                    SHORTCUT_VARIANTS))
PREACT = Spec("preact", depths=PREACT_DEPTHS,
              budgets={"digits": "400", "cifar10": "64000", "cifar100": "64000",
                       "other": "400"},
              members=make_members(PREACT_VARIANTS, "unit", deep=True),
              report=make_report("preact", "Original against pre-activation units", "unit",
                                 PREACT_VARIANTS),
              allowed_depths=PREACT_DEPTHS)

"""Lesion study (Veit, Wilber & Belongie 2016, "Residual Networks Behave Like Ensembles of
Relatively Shallow Networks", Sec. 4 and Fig. 3).

One block at a time is removed from a trained network, which is then tested unchanged
otherwise. A residual block is removed by zeroing its residual branch: it becomes its
shortcut (followed by the ReLU that follows the sum in a post-activation block). A plain block
has no shortcut, so it is replaced by the parameter-free one of option A: the identity, or
where the shape changes the stride-s subsampling with zero-padded channels. The paper finds
that removing a single block of a ResNet barely changes its error (except the downsampling
blocks), while removing a layer of a plain network (VGG there) breaks it.
"""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path

import torch
from torch import nn

from ..errors import ResnetsError
from ..models.blocks import ZeroPadShortcut
from ..train.engine import Hook
from ..train.logger import pyplot
from .core import Spec
from .report import (COLOURS, markdown_table, mean_std, percent, save_figure, write_csv,
                     write_findings)
from .runner import MemberResult
from .settings import Budget, ExperimentConfig, Member, parse_budget

NETWORKS = {"plain": "cifar_plain", "resnet": "cifar_resnet"}
STYLES = {"plain": "--", "resnet": "-"}
LESION_FILE = "lesion.csv"


def network_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, block) of each block of a staged network (ResNet-style), in network order."""
    stages = getattr(model, "stage_names", None)
    if not stages:
        raise ResnetsError(f"{type(model).__name__} has no stages of blocks to remove one "
                           "from; lesion a ResNet or plain network (cifar_resnet, cifar_plain)")
    return [(f"{stage}.{i}", block) for stage in stages
            for i, block in enumerate(getattr(model, stage))]


def _convs(block: nn.Module) -> list[nn.Conv2d]:
    return [m for m in block.children() if isinstance(m, nn.Conv2d)]


def changes_shape(block: nn.Module) -> bool:
    """Whether ``block`` downsamples or widens (its first convolution strides, or the
    channels differ)."""
    convs = _convs(block)
    return convs[0].stride != (1, 1) or convs[0].in_channels != convs[-1].out_channels


def _without_branch(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What ``block`` computes once removed (see the module's docstring)."""
    if block.residual:
        pre = block.act1(block.bn1(x)) if block.preact and block.projects else x
        y = block.shortcut(pre)
    else:
        convs = _convs(block)
        y = ZeroPadShortcut(convs[0].in_channels, convs[-1].out_channels,
                            convs[0].stride[0])(x)
    return y if block.preact else block.act_out(y)


@contextlib.contextmanager
def removed(block: nn.Module):
    """Within the block, ``block`` computes its lesioned output instead of its own."""
    block.forward = lambda x: _without_branch(block, x)
    try:
        yield block
    finally:
        del block.forward  # the class's forward again


@torch.no_grad()
def accuracy(model: nn.Module, batches, device: torch.device) -> float:
    correct = seen = 0
    for images, labels in batches:
        logits = model(images.to(device))
        correct += int((logits.argmax(1).cpu() == labels.cpu()).sum())
        seen += len(labels)
    return correct / max(seen, 1)


def lesion_rows(model: nn.Module, batches, device: torch.device) -> list[dict]:
    """Test accuracy of the whole network (block 0, "none") and with each block removed."""
    was_training = model.training
    model.eval()
    try:
        rows = [{"block": 0, "name": "none", "downsampling": False,
                 "accuracy": accuracy(model, batches, device)}]
        for index, (name, block) in enumerate(network_blocks(model), 1):
            with removed(block):
                rows.append({"block": index, "name": name,
                             "downsampling": changes_shape(block),
                             "accuracy": accuracy(model, batches, device)})
    finally:
        model.train(was_training)
    return rows


class LesionHook(Hook):
    """At the end of training, writes the lesion table of the test images."""

    def on_train_end(self, ctx, summary: dict) -> None:
        if ctx.is_main:
            write_csv(ctx.run_dir / LESION_FILE,
                      lesion_rows(ctx.model, ctx.data.test, ctx.device))


def members(cfg: ExperimentConfig, budget: Budget) -> list[Member]:
    if cfg.runs:  # trained runs are lesioned as they are (report)
        return []
    return [Member(f"{net}{depth}-seed{seed}", {"network": net, "depth": depth, "seed": seed},
                   {"model.name": model, "model.depth": depth, "seed": seed},
                   hooks=lambda: [LesionHook()])
            for net, model in NETWORKS.items() for depth in cfg.depths for seed in cfg.seeds]


def read_lesions(result: MemberResult) -> list[dict]:
    with open(result.run_dir / LESION_FILE, newline="", encoding="utf-8") as fh:
        return [{**result.labels, "block": int(r["block"]), "name": r["name"],
                 "downsampling": r["downsampling"] == "True",
                 "accuracy": float(r["accuracy"])} for r in csv.DictReader(fh)]


def lesion_given_runs(runs) -> list[dict]:
    """The lesion rows of trained run directories, labelled by what each one trained."""
    from ..models.summary import count_weighted_layers
    from ..train.inference import load_trained
    from ..train.pipeline import build_pipeline
    from ..train.setup import resolve_device

    device, rows = resolve_device("auto"), []
    for run in runs:
        model, _, cfg = load_trained(run, device)
        blocks = network_blocks(model)  # a model without blocks fails before any work
        net = "resnet" if all(b.residual for _, b in blocks) else "plain"
        labels = {"network": net, "depth": count_weighted_layers(model), "seed": cfg.seed,
                  "run": str(run)}
        test = build_pipeline(cfg, device).test
        rows += [{**labels, **row} for row in lesion_rows(model, test, device)]
    return rows


def curves(rows: list[dict]) -> dict[tuple, list[float]]:
    """Per (network, depth): accuracy with block i removed (i = 1, ...), mean over seeds."""
    out = {}
    for key in sorted({(r["network"], r["depth"]) for r in rows}):
        mine = [r for r in rows if (r["network"], r["depth"]) == key]
        blocks = sorted({r["block"] for r in mine})
        out[key] = [mean_std([r["accuracy"] for r in mine if r["block"] == b])[0]
                    for b in blocks]
    return out


def plot(rows: list[dict], path: Path) -> Path:
    """Test accuracy after removing each single block; dashed lines: nothing removed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for colour, ((net, depth), values) in zip(COLOURS, curves(rows).items()):
        ax.plot(range(1, len(values)), values[1:], color=colour, ls=STYLES[net], marker="o",
                ms=3, label=f"{net}-{depth}, one block removed")
        ax.axhline(values[0], color=colour, ls=":", lw=1, label=f"{net}-{depth}, intact")
    ax.set(xlabel="removed block", ylabel="test accuracy", ylim=(0, 1.02),
           title="lesion: test accuracy with one block removed")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def summary_lines(rows: list[dict]) -> tuple[bool, list[str], list[list]]:
    """Did removing a single residual block hurt less than removing a plain one?"""
    lines, table, drops = [], [], {}
    for (net, depth), values in curves(rows).items():
        intact, removed_ = values[0], values[1:]
        downs = {r["block"] for r in rows if r["network"] == net and r["depth"] == depth
                 and r["downsampling"]}
        others = [a for i, a in enumerate(removed_, 1) if i not in downs]
        drops[net, depth] = intact - mean_std(removed_)[0]
        table.append([net, depth, percent(intact), percent(mean_std(removed_)[0]),
                      percent(min(removed_)),
                      percent(mean_std(others)[0]) if others else "-"])
        lines.append(f"- {net}-{depth}: {percent(intact)}% intact; one block removed: "
                     f"{percent(mean_std(removed_)[0])}% on average, {percent(min(removed_))}%"
                     " at worst.")
    depths = sorted({d for _, d in drops})
    milder = [d for d in depths if ("plain", d) in drops and ("resnet", d) in drops
              and drops["resnet", d] < drops["plain", d]]
    return bool(milder) and len(milder) == len(depths), lines, table


def report(cfg: ExperimentConfig, results: list[MemberResult], out: Path,
           command: str) -> list[str]:
    rows = (lesion_given_runs(cfg.runs) if cfg.runs
            else [row for r in results for row in read_lesions(r)])
    write_csv(out / LESION_FILE, rows)
    plot(rows, out / "lesion.png")
    seen, lines, table = summary_lines(rows)
    headline = ("As in Veit et al.: removing one block costs the ResNet less accuracy than it "
                "costs the plain network." if seen else
                "Not as in Veit et al. at every depth (numbers below).")
    trained = (f"the trained runs {', '.join(cfg.runs)}" if cfg.runs else
               f"plain and residual networks of depths {', '.join(map(str, cfg.depths))} "
               f"trained on {cfg.data} for {parse_budget(cfg.budget).text()}; seeds "
               f"{', '.join(map(str, cfg.seeds))}")
    intro = (f"Lesion study of {trained}. Each block in turn is removed from the trained "
             "network (a residual block keeps its shortcut, its branch zeroed; a plain block "
             "is replaced by the parameter-free shortcut of option A) and the test accuracy "
             "measured, in evaluation mode, nothing retrained.")
    return write_findings(out, "Lesion study", command, intro, headline, lines, [
        "![test accuracy with one block removed](lesion.png)",
        "## Per network\n\nAccuracies in percent, means over seeds; downsampling blocks are "
        "the first of stages 2 and 3. Raw numbers: `lesion.csv` (every block of every run)."
        "\n\n" + markdown_table(["network", "depth", "intact", "one removed (mean)",
                                 "one removed (worst)", "mean, downsampling kept"], table)],
        results)


SPEC = Spec("lesion", depths=(20,),
            budgets={"digits": "400", "cifar10": "64000", "cifar100": "64000", "other": "400"},
            members=members, report=report)

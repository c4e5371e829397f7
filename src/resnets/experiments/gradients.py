"""Gradient norms per layer: do the early layers of deep plain nets stop learning?

He et al. 2015 (Sec. 4.1) attribute the degradation of plain nets to optimisation, and the
residual-learning argument is that shortcuts carry the gradient to the early layers. Here the
norm of the gradient of every convolution's weight is recorded on the first step (at
initialisation) and on step k of normal training, for plain and residual nets of each depth.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..train.logger import pyplot
from .core import Spec
from .report import (COLOURS, RecordsHook, markdown_table, mean_std, save_figure,
                     write_csv, write_findings)
from .runner import MemberResult
from .settings import Budget, ExperimentConfig, Member, parse_budget

NETWORKS = {"plain": "cifar_plain", "resnet": "cifar_resnet"}
NORMS_FILE = "grad_norms.csv"
SHRINK = 10.0  # first/last ratio change (x) that counts as shrinking


Layers = Callable[[nn.Module], list[tuple[str, nn.Module]]]  # a model's layers, in order


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every convolution, in the order the model defines them (the stem first)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def layer_grad_norms(model: nn.Module, layers: Layers = conv_layers) -> list[dict]:
    """The L2 norm of each layer's gradient (and of its weights), in order: a convolution's
    weight, or all the parameters of another layer (a transformer block, say)."""
    rows = []
    for index, (name, layer) in enumerate(layers(model), 1):
        params = [layer.weight] if isinstance(layer, nn.Conv2d) else list(layer.parameters())
        grads = [p.grad for p in params if p.grad is not None]
        rows.append({"layer": index, "name": name,
                     "grad_norm": math.nan if not grads else _norm(grads),
                     "weight_norm": _norm([p.detach() for p in params])})
    return rows


def _norm(tensors: list[torch.Tensor]) -> float:
    """The L2 norm of the tensors taken as one vector."""
    return torch.linalg.vector_norm(torch.stack([t.norm() for t in tensors])).item()


class GradNormHook(RecordsHook):
    """Records :func:`layer_grad_norms` after the backward pass of the chosen steps."""

    file_name = NORMS_FILE

    def __init__(self, steps: tuple[int, ...], layers: Layers = conv_layers) -> None:
        super().__init__()
        self.steps = steps
        self.layers = layers

    def after_backward(self, ctx) -> None:
        if ctx.step in self.steps:
            with torch.no_grad():
                self.records += [{"step": ctx.step, **row}
                                 for row in layer_grad_norms(ctx.model, self.layers)]


def members(cfg: ExperimentConfig, budget: Budget) -> list[Member]:
    k = budget.steps
    nets = [(net, depth) for net in NETWORKS for depth in cfg.depths]
    if cfg.with_1202:
        nets.append(("resnet", 1202))
    # k + 1 steps: the gradient of step k is taken after k updates.
    return [Member(f"{net}{depth}-seed{seed}", {"network": net, "depth": depth, "seed": seed},
                   {"model.name": NETWORKS[net], "model.depth": depth, "seed": seed,
                    "iterations": k + 1},
                   hooks=lambda: [GradNormHook((0, k))])
            for net, depth in nets for seed in cfg.seeds]


def read_norms(result: MemberResult) -> list[dict]:
    with open(result.run_dir / NORMS_FILE, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [{**result.labels, "step": int(r["step"]), "layer": int(r["layer"]),
             "name": r["name"], "grad_norm": float(r["grad_norm"]),
             "weight_norm": float(r["weight_norm"])} for r in rows]


def first_last_ratios(norms: list[dict]) -> list[dict]:
    """Per run and step: the first layer's gradient norm over the last layer's."""
    runs: dict[tuple, list[dict]] = {}
    for row in norms:
        runs.setdefault((row["network"], row["depth"], row["seed"], row["step"]), []).append(row)
    out = []
    for (net, depth, seed, step), rows in runs.items():
        rows.sort(key=lambda r: r["layer"])
        first, last = rows[0]["grad_norm"], rows[-1]["grad_norm"]
        out.append({"network": net, "depth": depth, "seed": seed, "step": step,
                    "first_grad_norm": first, "last_grad_norm": last,
                    "ratio": first / last if last else math.inf})
    return out


def geo_mean(values: list[float]) -> float:
    return math.exp(mean_std([math.log(v) for v in values])[0]) if values else math.nan


def plot_norms(norms: list[dict], depths, k: int, path: Path, networks=tuple(NETWORKS),
               layer_kind: str = "convolutions") -> Path:
    """Gradient norm against layer index (log scale): init and step k, one column per
    network (plain and residual)."""
    plt = pyplot()
    fig, axes = plt.subplots(2, len(networks), figsize=(5.5 * len(networks), 7.5),
                             sharex=True, squeeze=False)
    for row, step in enumerate((0, k)):
        for col, net in enumerate(networks):
            ax = axes[row][col]
            for colour, depth in zip(COLOURS, depths):
                mine = [r for r in norms if r["network"] == net and r["depth"] == depth
                        and r["step"] == step]
                layers = sorted({r["layer"] for r in mine})
                values = [geo_mean([r["grad_norm"] for r in mine if r["layer"] == i])
                          for i in layers]
                if layers:
                    ax.plot(layers, values, color=colour, label=f"{net}-{depth}", lw=1.2)
            when = "at initialisation" if step == 0 else f"after {k} steps"
            ax.set(yscale="log", title=f"{net} {when}", ylabel="gradient norm |dL/dW|")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel(f"layer index ({layer_kind}, input side first)")
    return save_figure(fig, path)


def plot_ratios(groups: list[dict], k: int, path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for colour, net in zip(COLOURS, NETWORKS):
        for step, style in ((0, "--"), (k, "-")):
            mine = sorted((g for g in groups if g["network"] == net and g["step"] == step),
                          key=lambda g: g["depth"])
            when = "init" if step == 0 else f"step {k}"
            ax.plot([g["depth"] for g in mine], [g["ratio"] for g in mine], style, marker="o",
                    color=colour, label=f"{net}, {when}")
    ax.axhline(1.0, color="black", lw=0.6)
    ax.set(xlabel="depth (layers)", ylabel="first layer / last layer gradient norm",
           yscale="log", title="gradient reaching the first layer")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def group_ratios(ratios: list[dict]) -> list[dict]:
    """Geometric mean of the ratio over seeds, per network, depth and step."""
    keys = sorted({(r["network"], r["depth"], r["step"]) for r in ratios})
    return [{"network": n, "depth": d, "step": s, "seeds": len(vals), "ratio": geo_mean(vals)}
            for n, d, s in keys
            for vals in [[r["ratio"] for r in ratios
                          if (r["network"], r["depth"], r["step"]) == (n, d, s)]]]


def verdict(groups: list[dict], k: int) -> tuple[bool, list[str]]:
    """Does the first layer's share of the gradient shrink with depth in plain nets only?"""
    ratio = {(g["network"], g["depth"], g["step"]): g["ratio"] for g in groups}
    lines, change = [], {}
    for net in NETWORKS:
        depths = sorted({d for n, d, s in ratio if n == net})
        low, high = depths[0], depths[-1]
        for step in (0, k):
            when = "at initialisation" if step == 0 else f"after {k} steps"
            lines.append(f"- {net} {when}: first/last gradient norm {ratio[net, low, step]:.3g}"
                         f" at depth {low}, {ratio[net, high, step]:.3g} at depth {high}.")
        change[net] = ratio[net, high, k] / ratio[net, low, k]
    seen = change["plain"] < 1 / SHRINK and change["resnet"] >= 1 / SHRINK
    lines.append(f"- After {k} steps the ratio changes {change['plain']:.3g}x from the "
                 f"shallowest to the deepest plain net and {change['resnet']:.3g}x for the "
                 f"residual nets (shrinking counts below 1/{SHRINK:.0f}).")
    return seen, lines


def weight_growth(norms: list[dict], k: int) -> list[str]:
    """How the first layer's weight norm changed over the k steps, in each deepest net.

    A convolution followed by BN gets a gradient inversely proportional to its weight norm,
    so a first layer whose weights a huge early gradient has inflated stops learning.
    """
    lines = []
    for net in NETWORKS:
        mine = [r for r in norms if r["network"] == net and r["layer"] == 1]
        if not mine:
            continue
        deepest = max(r["depth"] for r in mine)
        before, after = (geo_mean([r["weight_norm"] for r in mine
                                   if r["depth"] == deepest and r["step"] == step])
                         for step in (0, k))
        lines.append(f"- {net}-{deepest}: the first layer's weight norm went from "
                     f"{before:.3g} to {after:.3g} in {k} steps.")
    return lines


def report(cfg: ExperimentConfig, results: list[MemberResult], out: Path,
           command: str) -> list[str]:
    k = parse_budget(cfg.budget).steps
    norms = [row for r in results for row in read_norms(r)]
    write_csv(out / NORMS_FILE, norms)
    ratios = first_last_ratios(norms)
    write_csv(out / "ratios.csv", ratios)
    groups = group_ratios(ratios)
    depths = sorted({r.labels["depth"] for r in results})
    plot_norms(norms, depths, k, out / "gradients.png")
    plot_ratios(groups, k, out / "gradient_ratio.png")
    seen, lines = verdict(groups, k)
    lines += weight_growth(norms, k)
    headline = ("The claim is visible: after training starts, the first layer of deep plain "
                "nets receives a far smaller share of the gradient, that of residual nets "
                "does not." if seen else
                "The claim is not visible in these numbers (see the ratios below).")
    by_key = {(g["network"], g["depth"], g["step"]): g for g in groups}
    table = markdown_table(
        ["network", "depth", "seeds", "first/last at init", f"first/last after {k} steps"],
        [[n, d, g["seeds"], f"{g['ratio']:.3g}", f"{by_key[n, d, k]['ratio']:.3g}"]
         for (n, d, s), g in sorted(by_key.items()) if s == 0])
    intro = (f"The L2 norm of the gradient of every convolution's weight, on the first "
             f"training step (initialisation) and on step {k} of normal training, on "
             f"{cfg.data}; seeds {', '.join(map(str, cfg.seeds))} (curves and ratios are "
             "geometric means over them).")
    return write_findings(out, "Gradient norms per layer", command, intro, headline, lines, [
        "![gradient norm against layer index](gradients.png)",
        "![first/last layer gradient norm against depth](gradient_ratio.png)",
        "## First layer over last layer\n\nRaw numbers: `grad_norms.csv` (every layer, with "
        "the weight norms) and `ratios.csv` (per run).\n\n" + table], results)


SPEC = Spec("gradients", depths=(20, 32, 44, 56, 110), budgets={"other": "100"},
            members=members, report=report, steps_only=True)

"""Layer responses (He et al. 2015, Sec. 4.2 and Fig. 7).

The response of a layer is the output of its 3x3 convolution after BN and before the ReLU or
the addition. The paper finds the responses of ResNets generally smaller than those of plain
nets, and smaller in deeper ResNets: residual functions are closer to zero than
non-residual ones. Measured here after training, on the test images, in evaluation mode.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from torch import nn

from ..train.engine import Hook
from ..train.logger import pyplot
from .core import Spec
from .report import (COLOURS, markdown_table, mean_std, save_log_panels,
                     write_csv, write_findings)
from .runner import MemberResult
from .settings import Budget, ExperimentConfig, Member, deep_net_overrides, parse_budget

NETWORKS = {"plain": "cifar_plain", "resnet": "cifar_resnet"}
STYLES = {"plain": "--", "resnet": "-"}
RESPONSES_FILE = "responses.csv"


def response_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The BN after each 3x3 convolution (``convN`` -> ``bnN`` of the same module), in order.

    Post-activation networks only: in pre-activation units the BN comes before the conv.
    """
    modules = dict(model.named_modules())
    out = []
    for name, module in modules.items():
        prefix, _, leaf = name.rpartition(".")
        if not (leaf.startswith("conv") and isinstance(module, nn.Conv2d)
                and module.kernel_size == (3, 3)):
            continue
        bn = modules.get(f"{prefix}.bn{leaf[4:]}" if prefix else f"bn{leaf[4:]}")
        if isinstance(bn, nn.BatchNorm2d):
            out.append((name.replace("conv", "bn"), bn))
    return out


@torch.no_grad()
def response_stds(model: nn.Module, batches) -> list[dict]:
    """Per layer: the standard deviation of each channel of its response over all images and
    positions, averaged over the channels (evaluation mode)."""
    layers = response_layers(model)
    sums = [None] * len(layers)

    def record(i):
        def hook(module, inputs, output):
            x = output.detach().double().transpose(0, 1).flatten(1)  # channels x values
            moments = torch.stack([x.new_full((x.shape[0],), x.shape[1]), x.sum(1),
                                   (x * x).sum(1)])
            sums[i] = moments if sums[i] is None else sums[i] + moments
        return hook

    handles = [bn.register_forward_hook(record(i)) for i, (_, bn) in enumerate(layers)]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        for images, _ in batches:
            model(images.to(device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    rows = []
    for index, ((name, _), (n, s, sq)) in enumerate(zip(layers, sums), 1):
        var = (sq - s * s / n) / (n - 1).clamp_min(1)
        rows.append({"layer": index, "name": name,
                     "std": var.clamp_min(0).sqrt().mean().item()})
    return rows


class ResponseHook(Hook):
    """At the end of training, writes the layer responses on the test images."""

    def on_train_end(self, ctx, summary: dict) -> None:
        if ctx.is_main:
            write_csv(ctx.run_dir / RESPONSES_FILE, response_stds(ctx.model, ctx.data.test))


def members(cfg: ExperimentConfig, budget: Budget) -> list[Member]:
    return [Member(f"{net}{depth}-seed{seed}", {"network": net, "depth": depth, "seed": seed},
                   {"model.name": model, "model.depth": depth, "seed": seed,
                    **deep_net_overrides(cfg)},
                   hooks=lambda: [ResponseHook()])
            for net, model in NETWORKS.items() for depth in cfg.depths for seed in cfg.seeds]


def read_responses(result: MemberResult) -> list[dict]:
    with open(result.run_dir / RESPONSES_FILE, newline="", encoding="utf-8") as fh:
        return [{**result.labels, "layer": int(r["layer"]), "name": r["name"],
                 "std": float(r["std"])} for r in csv.DictReader(fh)]


def mean_profile(rows: list[dict], net: str, depth: int) -> list[float]:
    """The response std of each layer, averaged over seeds."""
    mine = [r for r in rows if r["network"] == net and r["depth"] == depth]
    layers = sorted({r["layer"] for r in mine})
    return [mean_std([r["std"] for r in mine if r["layer"] == i])[0] for i in layers]


def plot(rows: list[dict], depths, path: Path) -> Path:
    """Fig. 7: std per layer in network order (top) and sorted by magnitude (bottom)."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(9, 7.5))
    for colour, depth in zip(COLOURS, depths):
        for net in NETWORKS:
            profile = mean_profile(rows, net, depth)
            index = range(1, len(profile) + 1)
            style = dict(color=colour, ls=STYLES[net], lw=1.2, label=f"{net}-{depth}")
            axes[0].plot(index, profile, **style)
            axes[1].plot(index, sorted(profile, reverse=True), **style)
    axes[0].set(xlabel="layer index (original order)", ylabel="std of response",
                title="responses of the 3x3 layers (after BN, before ReLU/addition)",
                yscale="log")
    axes[1].set(xlabel="layer index (sorted by magnitude)", ylabel="std of response",
                yscale="log")
    return save_log_panels(fig, axes, path)


def verdict(means: dict, depths) -> tuple[bool, list[str]]:
    """Smaller in ResNets than in plain nets at each depth; smaller in deeper ResNets?"""
    depths = sorted(depths)
    smaller = [means["resnet", d] < means["plain", d] for d in depths]
    shrinking = all(means["resnet", b] < means["resnet", a] for a, b in zip(depths, depths[1:]))
    lines = [f"- Depth {d}: mean response std {means['plain', d]:.3f} plain, "
             f"{means['resnet', d]:.3f} residual." for d in depths]
    lines.append("- Residual responses are smaller than plain ones at "
                 f"{sum(smaller)} of {len(depths)} depths, and they "
                 + ("shrink" if shrinking else "do not shrink") + " with depth.")
    return all(smaller) and shrinking, lines


def report(cfg: ExperimentConfig, results: list[MemberResult], out: Path,
           command: str) -> list[str]:
    rows = [row for r in results for row in read_responses(r)]
    write_csv(out / RESPONSES_FILE, rows)
    plot(rows, cfg.depths, out / "responses.png")
    means = {(net, d): mean_std(mean_profile(rows, net, d))[0]
             for net in NETWORKS for d in cfg.depths}
    seen, lines = verdict(means, cfg.depths)
    headline = ("As in the paper: ResNets' responses are smaller than plain nets', and "
                "smaller in deeper ResNets." if seen else
                "Not as in the paper in every respect (numbers below).")
    table = markdown_table(["network", "depth", "layers", "mean std", "max std"],
                           [[net, d, len(mean_profile(rows, net, d)), f"{means[net, d]:.3f}",
                             f"{max(mean_profile(rows, net, d)):.3f}"]
                            for net in NETWORKS for d in cfg.depths])
    intro = (f"Plain and residual networks of depths {', '.join(map(str, cfg.depths))} "
             f"trained on {cfg.data} for {parse_budget(cfg.budget).text()}; seeds "
             f"{', '.join(map(str, cfg.seeds))}. The response of a layer is its 3x3 "
             "convolution's output after BN, before the ReLU or the addition; its std is taken "
             "per channel over the test images and positions (evaluation mode), then averaged "
             "over channels.")
    return write_findings(out, "Layer responses", command, intro, headline, lines, [
        "![std of layer responses, in network order and sorted](responses.png)",
        "## Per network\n\nRaw numbers: `responses.csv` (every layer of every run).\n\n"
        + table], results)


SPEC = Spec("responses", depths=(20, 56, 110),
            budgets={"digits": "400", "cifar10": "64000", "cifar100": "64000", "other": "400"},
            members=members, report=report)

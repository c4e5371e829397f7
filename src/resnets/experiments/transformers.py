"""Residual connections in transformers: ViT encoders trained with and without their skips.

Three measurements, for encoders of several depths (``vit_digits`` on the digits and the
synthetic data, ``vit_cifar`` on CIFAR and image folders):

* accuracy after normal training (AdamW), with the skips and without (``residual=False``);
* the L2 norm of each block's gradient on the first step and on the last (as ``gradients``
  records for the convolutions of CNNs);
* rank collapse (Dong, Cordonnier & Loukas 2021, "Attention is not all you need: pure
  attention loses rank doubly exponentially with depth"): the relative residual
  ||X - 1 x^T||_F / ||X||_F of the token matrix X after each block, x the mean token (the
  closest rank-1 matrix 1 x^T in the Frobenius norm), on a batch of test images. At
  initialisation for four encoders of the deepest depth built with the member's seed: pure
  attention (no skips, no MLP), attention with skips, attention with MLPs (no skips) and the
  full transformer; and for every trained member, before and after training.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from torch import nn

from ..errors import ResnetsError
from ..models import create_model
from ..models.vit import Block
from ..train.logger import pyplot
from .core import Spec
from .gradients import (GradNormHook, first_last_ratios, geo_mean, group_ratios, plot_norms,
                        read_norms)
from .report import (COLOURS, RecordsHook, final_errors, markdown_table, mean_std, save_log_panels,
                     write_csv, write_findings)
from .runner import MemberResult
from .settings import Budget, ExperimentConfig, Member, parse_budget

NETWORKS = {"skips": True, "no-skips": False}  # network label -> residual
# The encoders whose tokens are measured at initialisation: model options of each.
VARIANTS = {"pure attention": {"residual": False, "mlp_ratio": 0},
            "attention + skips": {"residual": True, "mlp_ratio": 0},
            "attention + MLP": {"residual": False},
            "transformer": {"residual": True}}
# AdamW with a cosine decay after the data's warm-up: on the digits, 2 blocks with skips
# reached 16.4% test error in 300 steps at lr 3e-3 and 22.6% at 1e-2 (seed 0, once each).
TRAINING = {"optim.name": "adamw", "optim.lr": 3e-3, "optim.momentum": 0.9,
            "optim.weight_decay": 0.05, "optim.decay_norm_and_bias": False,
            "schedule.name": "cosine"}
MAX_DEPTH = 48
PROBE_IMAGES = 128  # test images whose tokens are measured
RANKS_FILE = "token_residuals.csv"
COLLAPSED = 1e-3  # a relative residual below this is a rank-1 token matrix


def check_depths(depths) -> None:
    bad = [d for d in depths if not 1 <= d <= MAX_DEPTH]
    if bad:
        raise ResnetsError(f"transformer-skips encoders have 1 to {MAX_DEPTH} blocks, not "
                           f"{bad[0]}; fix --depths (e.g. 2,6,12)")


def model_name(cfg: ExperimentConfig) -> str:
    return "vit_cifar" if cfg.data in ("cifar10", "cifar100", "folder") else "vit_digits"


def transformer_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every transformer block, input side first."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, Block)]


def relative_residual(tokens: torch.Tensor) -> torch.Tensor:
    """||X - 1 x^T||_F / ||X||_F for each token matrix X (N x tokens x D), x the mean token."""
    centred = tokens - tokens.mean(dim=1, keepdim=True)
    return centred.flatten(1).norm(dim=1) / tokens.flatten(1).norm(dim=1)


@torch.no_grad()
def token_residuals(model: nn.Module, images: torch.Tensor) -> list[float]:
    """The mean relative residual of the tokens entering the first block (layer 0) and
    leaving each block, in evaluation mode."""
    was_training = model.training
    model.eval()
    try:
        x = model.embed_tokens(images)
        values = [relative_residual(x).mean().item()]
        for block in model.blocks:
            x = block(x)
            values.append(relative_residual(x).mean().item())
    finally:
        model.train(was_training)
    return values


class TokenRankHook(RecordsHook):
    """Measures :func:`token_residuals` on the first test images: of the member's model
    before its first step and after training, and (``variants``) of the :data:`VARIANTS`
    at initialisation, built with the member's seed and depth."""

    file_name = RANKS_FILE

    def __init__(self, name: str, depth: int, seed: int, variants: bool) -> None:
        super().__init__()
        self.name, self.depth, self.seed, self.variants = name, depth, seed, variants

    def _probe(self, ctx) -> torch.Tensor:
        """The first test images; a loader that keeps its place is put back where it was,
        so that the next evaluation sees every batch."""
        loader = ctx.data.test
        state = loader.state_dict() if hasattr(loader, "set_epoch") else None
        images = next(iter(loader))[0][:PROBE_IMAGES]
        if state is not None:
            loader.set_epoch(state["epoch"], state["position"])
        return images.to(ctx.device)

    def _record(self, variant: str, when: str, values: list[float]) -> None:
        self.records += [{"variant": variant, "when": when, "layer": i, "residual": v}
                         for i, v in enumerate(values)]

    def on_train_start(self, ctx) -> None:
        if ctx.step or self.records:  # resumed: measured before the interruption
            return
        images = self._probe(ctx)
        self._record("trained", "init", token_residuals(ctx.model, images))
        if not self.variants:
            return
        with torch.random.fork_rng(devices=[]):  # leaves the training's random stream alone
            for variant, options in VARIANTS.items():
                torch.manual_seed(self.seed)
                model = create_model(self.name, depth=self.depth, in_chans=images.shape[1],
                                     **options).to(ctx.device)
                self._record(variant, "init", token_residuals(model, images))

    def on_train_end(self, ctx, summary: dict) -> None:
        self._record("trained", "end", token_residuals(ctx.model, self._probe(ctx)))
        super().on_train_end(ctx, summary)


def members(cfg: ExperimentConfig, budget: Budget) -> list[Member]:
    k, name, deepest = budget.steps, model_name(cfg), max(cfg.depths)

    def hooks(depth: int, seed: int, variants: bool):
        return lambda: [GradNormHook((0, k), transformer_blocks),
                        TokenRankHook(name, depth, seed, variants)]

    # k + 1 steps: the gradient of step k is taken after k updates.
    return [Member(f"vit-{net}{depth}-seed{seed}", {"network": net, "depth": depth,
                                                    "seed": seed},
                   {**TRAINING, "model.name": name, "model.depth": depth, "seed": seed,
                    "iterations": k + 1, **({} if residual else {"model.shortcut": "none"})},
                   hooks=hooks(depth, seed, residual and depth == deepest))
            for net, residual in NETWORKS.items() for depth in cfg.depths
            for seed in cfg.seeds]


def read_residuals(result: MemberResult) -> list[dict]:
    with open(result.run_dir / RANKS_FILE, newline="", encoding="utf-8") as fh:
        return [{**result.labels, "variant": r["variant"], "when": r["when"],
                 "layer": int(r["layer"]), "residual": float(r["residual"])}
                for r in csv.DictReader(fh)]


def residual_curve(rows: list[dict], **match) -> list[float]:
    """The residual per layer of the rows matching ``match``, geometric mean over seeds."""
    mine = [r for r in rows if all(r[k] == v for k, v in match.items())]
    layers = sorted({r["layer"] for r in mine})
    return [geo_mean([max(r["residual"], 1e-30) for r in mine if r["layer"] == i])
            for i in layers]


def plot_residuals(rows: list[dict], depths, path: Path) -> Path:
    """Relative residual against depth: the variants at init (left), the trained members
    before and after training (right)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for colour, variant in zip(COLOURS, VARIANTS):
        curve = residual_curve(rows, variant=variant)
        axes[0].plot(range(len(curve)), curve, marker=".", color=colour, label=variant)
    axes[0].set(title=f"at initialisation, {max(depths)} blocks", yscale="log",
                xlabel="block (0: the embedded patches)",
                ylabel="||X - 1x^T|| / ||X|| (relative residual)")
    for colour, depth in zip(COLOURS, depths):
        for net, style in (("skips", "-"), ("no-skips", "--")):
            for when, marker in (("init", "."), ("end", "o")):
                curve = residual_curve(rows, variant="trained", network=net, depth=depth,
                                       when=when)
                axes[1].plot(range(len(curve)), curve, style, marker=marker, ms=3,
                             color=colour, label=f"{net}-{depth}, {when}")
    axes[1].set(title="trained encoders: before (.) and after (o) training", yscale="log",
                xlabel="block")
    return save_log_panels(fig, axes, path, legend_size=7)


def accuracy_rows(results: list[MemberResult]) -> tuple[list[dict], str]:
    """Per member: test accuracy; and the table of every seed's, per network and depth."""
    rows = [{**row, "test_accuracy": 1 - row["test_error"]} for row in final_errors(results)]
    table = []
    for depth in sorted({r["depth"] for r in rows}):
        for net in NETWORKS:
            mine = [r for r in rows if (r["network"], r["depth"]) == (net, depth)]
            mean, std = mean_std([r["test_accuracy"] for r in mine])
            seeds = ", ".join(f"{100 * r['test_accuracy']:.2f} (seed {r['seed']})"
                              for r in mine)
            table.append([net, depth, f"{100 * mean:.2f} ± {100 * std:.2f}", seeds])
    return rows, markdown_table(["network", "blocks", "test accuracy (%)", "every seed"],
                                table)


def collapse_lines(rows: list[dict], deepest: int) -> tuple[bool, list[str]]:
    """Does pure attention collapse to rank 1 while the skips keep the tokens apart?"""
    curves = {v: residual_curve(rows, variant=v) for v in VARIANTS}
    lines = [f"- {v}: relative residual {c[0]:.3g} entering block 1, {c[1]:.3g} after it, "
             f"{c[-1]:.3g} after block {deepest}." for v, c in curves.items()]
    pure, skips = curves["pure attention"], curves["attention + skips"]
    seen = pure[-1] < COLLAPSED * pure[0] and skips[-1] > 0.1 * skips[0]
    return seen, lines


def gradient_lines(norms: list[dict], k: int) -> list[str]:
    groups = {(g["network"], g["depth"], g["step"]): g["ratio"]
              for g in group_ratios(first_last_ratios(norms))}
    return [f"- {net}, {depth} blocks: first/last block gradient norm {groups[net, depth, 0]:.3g}"
            f" at init, {groups[net, depth, k]:.3g} after {k} steps."
            for net, depth, step in sorted(groups) if step == 0]


def report(cfg: ExperimentConfig, results: list[MemberResult], out: Path,
           command: str) -> list[str]:
    k, depths = parse_budget(cfg.budget).steps, sorted(cfg.depths)
    norms = [row for r in results for row in read_norms(r)]
    write_csv(out / "grad_norms.csv", norms)
    write_csv(out / "ratios.csv", first_last_ratios(norms))
    residuals = [row for r in results for row in read_residuals(r)]
    write_csv(out / RANKS_FILE, residuals)
    accuracy, table = accuracy_rows(results)
    write_csv(out / "accuracy.csv", accuracy)
    plot_norms(norms, depths, k, out / "gradients.png", tuple(NETWORKS), "blocks")
    plot_residuals(residuals, depths, out / "rank_collapse.png")
    seen, lines = collapse_lines(residuals, depths[-1])
    lines += gradient_lines(norms, k)
    headline = ("Rank collapse is visible: without skips or MLPs, attention maps every image's "
                f"tokens to one token (relative residual below {COLLAPSED:g} of its input's); "
                "with skips the tokens stay apart." if seen else
                "Rank collapse is not visible in these numbers (see the residuals below).")
    intro = (f"ViT encoders ({model_name(cfg)}) of {', '.join(map(str, depths))} blocks with "
             f"and without skips, trained {k + 1} steps with AdamW on {cfg.data}; seeds "
             f"{', '.join(map(str, cfg.seeds))}. Residuals are geometric means over seeds of "
             f"the mean over {PROBE_IMAGES} test images (fewer if the test set is smaller).")
    return write_findings(out, "Residual connections in transformers", command, intro,
                          headline, lines, [
        "## Accuracy\n\n" + table,
        "![relative residual of the tokens per block](rank_collapse.png)",
        "![gradient norm per block](gradients.png)",
        "Raw numbers: `accuracy.csv`, `token_residuals.csv` (every layer, variant and run), "
        "`grad_norms.csv` (every block at the first and last step) and `ratios.csv`."],
        results)


SPEC = Spec("transformer-skips", depths=(2, 4, 8), budgets={"other": "300"},
            members=members, report=report, steps_only=True, depth_rule=check_depths)

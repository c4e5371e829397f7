"""Guarding against overfitting: what each regulariser does to the train/test gap.

A ResNet trained on a small share of the training set (``data.train_fraction``, default 10%)
fits it almost perfectly and generalises worse. Each member run adds one regulariser to a
baseline that has none (no weight decay, no data augmentation):

* dropout before the classifier (Srivastava et al. 2014), ``model.drop_rate``;
* weight decay, ``optim.weight_decay`` (the L2 penalty of SGD);
* label smoothing (Szegedy et al. 2016), ``optim.label_smoothing``;
* mixup (Zhang et al. 2018), ``data.mixup_alpha``;
* CutMix (Yun et al. 2019), ``data.cutmix_alpha``.

The training error reported is measured at the end on the (un-augmented, unmixed) training
images with the network in eval mode, so it compares with the test error; the running error
of the last epoch would count mixed images and dropped units.
"""

from __future__ import annotations

from pathlib import Path

from .. import data as D
from ..errors import ResnetsError
from ..train.context import Hook
from ..train.evaluate import evaluate
from ..train.logger import pyplot
from .core import Spec
from .report import (errors_table, group_errors, mean_std, percent, runs_section,
                     save_figure, write_csv, write_report)
from .runner import MemberResult
from .settings import Budget, ExperimentConfig, Member, parse_budget

TRAIN_FRACTION = 0.1  # share of the training set every member trains on
DIGITS_BATCH = 32  # 10% of the digits is 144 images: batches of 128 would be one per epoch
EVAL_EVERY = 10  # epochs between test evaluations (the small epochs are over quickly)
# option -> the settings it adds to the baseline
OPTIONS: dict[str, dict] = {
    "baseline": {},
    "dropout": {"model.drop_rate": 0.5},  # Srivastava et al.: p = 0.5 for hidden units
    "weight-decay": {"optim.weight_decay": 5e-4},  # the common CIFAR value (WRN, timm)
    "label-smoothing": {"optim.label_smoothing": 0.1},  # Szegedy et al. 2016
    "mixup": {"data.mixup_alpha": 1.0},  # Zhang et al. 2018 on CIFAR-10
    "cutmix": {"data.cutmix_alpha": 1.0},  # Yun et al. 2019 on CIFAR
}
IN_MEMORY = ("digits", "synthetic", "cifar10", "cifar100")


class CleanTrainError(Hook):
    """At the end of training, the error on the training images as the test set is measured
    (eval mode, no augmentation, no mixing), written to the summary as ``clean_train_error``."""

    def on_train_end(self, ctx, summary: dict) -> None:
        pipe = ctx.data
        batches = D.InMemoryLoader(pipe.train.dataset, ctx.cfg.eval_batch_size, shuffle=False,
                                   drop_last=False, device=ctx.device, mean=pipe.mean,
                                   std=pipe.std)
        result = evaluate(ctx.model, batches, len(pipe.classes), ctx.device,
                          ctx.cfg.precision, ctx.cfg.channels_last)
        summary["clean_train_error"] = result["top1_error"]
        summary["train_images"] = pipe.train_size


def members(cfg: ExperimentConfig, budget: Budget) -> list[Member]:
    if cfg.data not in IN_MEMORY:
        raise ResnetsError(f"overfitting runs on in-memory data; use --data "
                           f"{' | '.join(IN_MEMORY)}")
    common = {"model.name": "cifar_resnet", "data.train_fraction": TRAIN_FRACTION,
              "optim.weight_decay": 0.0, "data.augment": "none", "eval_every": EVAL_EVERY,
              **({"batch_size": DIGITS_BATCH} if cfg.data == "digits" else {})}
    return [Member(f"{option}{depth}-seed{seed}",
                   {"option": option, "depth": depth, "seed": seed},
                   {**common, "model.depth": depth, "seed": seed, **settings},
                   hooks=lambda: [CleanTrainError()])
            for option, settings in OPTIONS.items() for depth in cfg.depths
            for seed in cfg.seeds]


def final_rows(results: list[MemberResult]) -> list[dict]:
    """One row per member: clean training error, test error and their gap."""
    rows = []
    for r in results:
        if "clean_train_error" not in r.summary:
            raise ResnetsError(f"{r.run_dir}/summary.json has no clean_train_error; delete the "
                               "run directory and run the experiment again")
        train, test = r.summary["clean_train_error"], r.final("test_error")
        rows.append({**r.labels, "train_error": train, "test_error": test, "gap": test - train,
                     "last_epoch_running_train_error": r.final("train_error"),
                     "train_images": r.summary["train_images"], "steps": r.summary["steps"],
                     "train_seconds": round(r.summary["train_seconds"], 1)})
    return rows


def plot(groups: list[dict], path: Path) -> Path:
    """Training and test error of each option, side by side (means over seeds)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4))
    xs = range(len(groups))
    for shift, key, label in ((-0.2, "train_error_mean", "training"),
                              (0.2, "test_error_mean", "test")):
        ax.bar([x + shift for x in xs], [100 * g[key] for g in groups], width=0.4,
               label=label)
    ax.set_xticks(list(xs), [g["option"] for g in groups], fontsize=8)
    ax.set(ylabel="error (%)", title="training vs test error per regulariser")
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    return save_figure(fig, path)


def report(cfg: ExperimentConfig, results: list[MemberResult], out: Path,
           command: str) -> list[str]:
    rows = final_rows(results)
    write_csv(out / "final_errors.csv", rows)
    groups = group_errors(rows, ("option", "depth"))
    for group in groups:
        mine = [r for r in rows if (r["option"], r["depth"]) == (group["option"],
                                                                  group["depth"])]
        group["gap"] = percent(*mean_std([r["gap"] for r in mine]))
        group["gap_mean"] = mean_std([r["gap"] for r in mine])[0]
    plot(groups, out / "overfitting.png")
    base = {g["depth"]: g for g in groups if g["option"] == "baseline"}
    lines = []
    for g in sorted(groups, key=lambda g: g["test_error_mean"]):
        b = base[g["depth"]]
        lines.append(f"- {g['option']}: test error {percent(g['test_error_mean'])}% "
                     f"({100 * (g['test_error_mean'] - b['test_error_mean']):+.2f} points "
                     f"against the baseline), gap {percent(g['gap_mean'])} points.")
    images = rows[0]["train_images"]
    sections = [
        f"ResNet-{'/'.join(map(str, cfg.depths))} trained on {images} images "
        f"({100 * TRAIN_FRACTION:.0f}% of the {cfg.data} training set, class-balanced) for "
        f"{parse_budget(cfg.budget).text()}, seeds {', '.join(map(str, cfg.seeds))}. The "
        "baseline has no weight decay and no augmentation; each other run adds one "
        "regulariser. Training error: the final network on the training images in eval "
        "mode (no augmentation, no mixing); gap = test error - training error.",
        "## Result (best test error first)\n\n" + "\n".join(lines)
        + "\n\nA difference smaller than the standard deviation over seeds (run `--seeds 3` "
        "or more to see it) is not a result.",
        "![training and test error per regulariser](overfitting.png)",
        "## Final errors\n\nMean ± standard deviation over seeds. Raw numbers: "
        "`final_errors.csv`.\n\n" + errors_table(groups, ("option", "depth", "gap")),
        runs_section(results, out),
    ]
    write_report(out / "report.md", "Overfitting on a small training set", command, sections)
    return lines


SPEC = Spec("overfitting", depths=(20,),
            budgets={"digits": "400", "cifar10": "8000", "cifar100": "8000", "other": "400"},
            members=members, report=report)

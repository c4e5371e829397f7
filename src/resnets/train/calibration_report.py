"""What ``resnets evaluate`` adds to top-1/top-5 error: calibration and per-class scores.

The expected calibration error (ECE) uses 15 equal-width confidence bins (Guo et al. 2017,
"On Calibration of Modern Neural Networks"; torchmetrics' default), and a reliability diagram
(accuracy against confidence per bin) is written beside the report. Per-class precision,
recall and F1 come from the confusion matrix, with their macro averages over the classes that
occur.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from .logger import pyplot, save_figure
from .metrics import (CALIBRATION_BINS, expected_calibration_error, macro_average,
                      precision_recall_f1, reliability)


def calibration_and_class_scores(result: dict, classes: Sequence[str]) -> dict:
    """The report entries of an evaluation's ``confusion`` and ``calibration`` tables."""
    cm, table = result["confusion"], result["calibration"]
    scores = precision_recall_f1(cm)
    report = {"expected_calibration_error": expected_calibration_error(table),
              "calibration_bins": CALIBRATION_BINS, "reliability": reliability(table)}
    for name, values in scores.items():
        report[f"per_class_{name}"] = dict(zip(classes, values.tolist()))
    for name, values in scores.items():
        report[f"macro_{name}"] = macro_average(values, cm)
    return report


def plot_reliability(table: torch.Tensor, path: Path) -> Path:
    """The reliability diagram: accuracy (bars) and the diagonal of perfect calibration over
    the confidence bins, with the ECE in the title, as a PNG."""
    plt = pyplot()
    curve = reliability(table)
    width = 1.0 / len(curve["lower"])
    filled = [i for i, n in enumerate(curve["count"]) if n]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.bar([curve["lower"][i] for i in filled], [curve["accuracy"][i] for i in filled],
           width=width, align="edge", edgecolor="black", label="accuracy")
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top softmax probability)",
           ylabel="accuracy",
           title=f"reliability (ECE {100 * expected_calibration_error(table):.2f}%, "
                 f"{len(curve['lower'])} bins)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return save_figure(fig, path)


def print_calibration_and_class_scores(report: dict) -> None:
    """The lines ``resnets evaluate`` prints after its per-class accuracies."""
    print(f"calibration error (ECE, {report['calibration_bins']} bins) "
          f"{100 * report['expected_calibration_error']:.2f}%  "
          f"macro precision {100 * report['macro_precision']:.2f}%  "
          f"recall {100 * report['macro_recall']:.2f}%  F1 {100 * report['macro_f1']:.2f}%")
    print(f"  {'class':>16}  {'precision':>9}  {'recall':>7}  {'F1':>7}")
    for name, precision in report["per_class_precision"].items():
        print(f"  {name:>16}  {100 * precision:8.2f}%  "
              f"{100 * report['per_class_recall'][name]:6.2f}%  "
              f"{100 * report['per_class_f1'][name]:6.2f}%")
    print(f"reliability diagram: {report['reliability_png']}")

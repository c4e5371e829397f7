"""What an experiment writes: CSV tables, PNG figures and a markdown report."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..train.engine import Hook
from ..train.logger import pyplot
from ..train.logger import save_figure as save_train_figure

COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
           "tab:pink", "tab:gray")
FIGURE_DPI = 80  # keeps each figure well under 200 KB


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = [float(v) for v in values]
    if not values:
        return math.nan, math.nan
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std


def percent(mean: float, std: float | None = None) -> str:
    """``12.34`` or ``12.34 ± 0.56`` (fractions shown as percentages)."""
    if std is None or std == 0:
        return f"{100 * mean:.2f}"
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def save_figure(fig, path: Path) -> Path:
    """An experiment's figure: tight layout at :data:`FIGURE_DPI`, written atomically."""
    return save_train_figure(fig, path, dpi=FIGURE_DPI, tight=True)


def save_log_panels(fig, axes, path: Path, legend_size: int = 8, ncol: int = 2) -> Path:
    """Grids (major and minor, for log axes) and legends on ``axes``, then the figure."""
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=legend_size, ncol=ncol)
    return save_figure(fig, path)


def write_report(path: Path, title: str, command: str, sections: Sequence[str]) -> Path:
    """``report.md``: the title, the command that made it, then the sections in order."""
    text = [f"# {title}", "", "Made by:", "", "```bash", command, "```", ""]
    for section in sections:
        text += [section.rstrip(), ""]
    path.write_text("\n".join(text), encoding="utf-8")
    return path


def final_errors(results) -> list[dict[str, Any]]:
    """One row per member: its labels and its last logged training and test errors."""
    return [{**r.labels, "train_error": r.final("train_error"),
             "test_error": r.final("test_error"), "steps": r.summary["steps"],
             "train_seconds": round(r.summary["train_seconds"], 1)} for r in results]


def group_errors(rows: Sequence[dict], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds of the final errors, per ``keys`` group."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    out = []
    for key, members in groups.items():
        train = mean_std([m["train_error"] for m in members])
        test = mean_std([m["test_error"] for m in members])
        out.append({**dict(zip(keys, key)), "seeds": len(members),
                    "train_error_mean": train[0], "train_error_std": train[1],
                    "test_error_mean": test[0], "test_error_std": test[1]})
    return out


def errors_table(groups: Sequence[dict], keys: Sequence[str]) -> str:
    """The grouped errors as a markdown table, in percent."""
    return markdown_table(
        [*keys, "train error (%)", "test error (%)", "seeds"],
        [[*(g[k] for k in keys), percent(g["train_error_mean"], g["train_error_std"]),
          percent(g["test_error_mean"], g["test_error_std"]), g["seeds"]] for g in groups])


def runs_section(results, out: Path) -> str:
    """The member runs: where each one's directory is and how long it trained."""
    total = sum(r.summary["train_seconds"] for r in results)
    rows = [[f"`{r.run_dir.relative_to(out)}`", r.summary["steps"],
             f"{r.summary['train_seconds']:.0f}"] for r in results]
    return ("## Member runs\n\nEach is a normal run directory (config, metrics, checkpoints, "
            f"curves). Training time in all: {total:.0f} s.\n\n"
            + markdown_table(["run", "steps", "seconds"], rows))


def write_findings(out: Path, title: str, command: str, intro: str, headline: str,
                   lines: Sequence[str], sections: Sequence[str], results) -> list[str]:
    """``out/report.md``: ``intro``, the result (``headline`` and its ``lines``), the other
    ``sections`` (figures, tables), then the member runs; returns the lines to print."""
    result = "## Result\n\n" + headline + "\n\n" + "\n".join(lines)
    write_report(out / "report.md", title, command,
                 [intro, result, *sections, runs_section(results, out)])
    return [headline, *lines]


def mean_curves(results) -> dict[str, list]:
    """Per-epoch training and test error averaged over runs that differ only in the seed."""
    rows = [[row for row in r.rows if row.get("test_error") is not None] for r in results]
    n = min(len(x) for x in rows)
    return {"step": [row["step"] for row in rows[0][:n]],
            **{key: [mean_std([x[i][key] for x in rows])[0] for i in range(n)]
               for key in ("train_error", "test_error")}}


def error_curves_figure(panels: Sequence[tuple[str, Sequence[tuple[str, list]]]],
                        path: Path) -> Path:
    """The paper's Fig. 6 style: error against iterations, training dashed and test solid,
    one colour per line. ``panels`` holds (title, [(label, runs), ...]) per panel."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), sharey=True,
                             squeeze=False)
    for ax, (title, lines) in zip(axes[0], panels):
        for colour, (label, runs) in zip(COLOURS, lines):
            c = mean_curves(runs)
            ax.plot(c["step"], [100 * v for v in c["train_error"]], "--", color=colour)
            ax.plot(c["step"], [100 * v for v in c["test_error"]], "-", color=colour,
                    label=label)
        ax.set(xlabel="iterations", title=title)
        ax.grid(alpha=0.3)
        ax.legend(title="dashed: train, solid: test", fontsize=8)
    axes[0][0].set_ylabel("error (%)")
    return save_figure(fig, path)


def curves_rows(results) -> list[dict[str, Any]]:
    """Every logged epoch of every run, with the run's labels (for a CSV file)."""
    return [{**r.labels, "step": row["step"], "epoch": row["epoch"],
             "train_error": row["train_error"], "test_error": row.get("test_error")}
            for r in results for row in r.rows]


class RecordsHook(Hook):
    """Rows gathered during training, kept across a resume (the engine saves a hook's state
    in the checkpoint) and written to ``file_name`` in the run directory at the end."""

    file_name = ""  # set by each subclass: the CSV it writes

    def __init__(self) -> None:
        self.records: list[dict] = []

    def on_train_end(self, ctx, summary: dict) -> None:
        if ctx.is_main:
            write_csv(ctx.run_dir / self.file_name, self.records)

    def state_dict(self) -> dict:
        return {"records": self.records}

    def load_state_dict(self, state: dict) -> None:
        self.records = list(state.get("records", []))

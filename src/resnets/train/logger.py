"""What a run writes besides checkpoints: metrics (CSV, JSON lines, TensorBoard), learning
curves as PNG, and progress on the terminal (bars) or in logs (plain lines)."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..readback import read_json_lines

CURVES_PNG = "curves.png"


def is_terminal() -> bool:
    return sys.stdout.isatty()


def progress(iterable: Iterable, total: int, desc: str, enabled: bool = True) -> Iterator:
    """A tqdm bar on a terminal; elsewhere nothing per item (the caller prints a line)."""
    if enabled and is_terminal():
        from tqdm.auto import tqdm

        yield from tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)
    else:
        yield from iterable


class RunLogger:
    """Appends one row per evaluation to ``metrics.csv`` and ``metrics.jsonl``.

    Rows written before a resume are kept: the files are reopened in append mode and the
    curves are drawn from every row on disk.
    """

    def __init__(self, run_dir: Path, enabled: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))
            except Exception:  # tensorboard is optional
                self._tb = None

    @property
    def jsonl_path(self) -> Path:
        return self.run_dir / "metrics.jsonl"

    def rows(self) -> list[dict[str, Any]]:
        if not self.jsonl_path.exists():
            return []
        return read_json_lines(self.jsonl_path, "metrics file", "delete the damaged lines")

    def truncate_after(self, step: int) -> None:
        """Drop rows past ``step`` (rows logged after the checkpoint a resume starts from)."""
        if not self.enabled:
            return
        kept = [r for r in self.rows() if r["step"] <= step]
        self.jsonl_path.write_text("".join(json.dumps(r) + "\n" for r in kept),
                                   encoding="utf-8")
        self._write_csv(kept)

    def log(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.jsonl_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        self._write_csv(self.rows())
        if self._tb is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                    self._tb.add_scalar(key, value, row["step"])
            self._tb.flush()

    def _write_csv(self, rows: list[dict[str, Any]]) -> None:
        keys: list[str] = []
        for row in rows:
            keys += [k for k in row if k not in keys]
        with open(self.run_dir / "metrics.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)

    def plot(self) -> Path | None:
        """Error against iterations, training dashed and test solid (He et al. 2015, Fig. 6)."""
        rows = self.rows()
        if not self.enabled or not rows:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax_err, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
        steps = [r["step"] for r in rows]
        for key, style, label in (("train_error", "--", "train"), ("val_error", "-.", "val"),
                                  ("test_error", "-", "test")):
            values = [100 * r[key] if _finite(r.get(key)) else math.nan for r in rows]
            if any(not math.isnan(v) for v in values):
                ax_err.plot(steps, values, style, label=label)
        for key, style, label in (("train_loss", "--", "train"), ("test_loss", "-", "test")):
            values = [r[key] if _finite(r.get(key)) else math.nan for r in rows]
            if any(not math.isnan(v) for v in values):
                ax_loss.plot(steps, values, style, label=label)
        ax_err.set(xlabel="iterations", ylabel="top-1 error (%)", title="error")
        ax_loss.set(xlabel="iterations", ylabel="cross-entropy", title="loss")
        for ax in (ax_err, ax_loss):
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        path = self.run_dir / CURVES_PNG
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)

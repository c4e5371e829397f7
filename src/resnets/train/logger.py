"""What a run writes besides checkpoints: metrics (CSV, JSON lines, TensorBoard), learning
curves as PNG, and progress on the terminal (bars) or in logs (plain lines)."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..files import atomic_path, write_text_atomic
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
    """Adds one row per evaluation to ``metrics.csv`` and ``metrics.jsonl``.

    Both files are rewritten atomically with every row, so a failed write (full disk) leaves
    the rows before it intact. Rows written before a resume are kept, and the curves are
    drawn from every row on disk.
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
        write_text_atomic(self.jsonl_path, "".join(json.dumps(r) + "\n" for r in kept))
        self._write_csv(kept)

    def log(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        rows = [*self.rows(), row]  # rewritten whole: a full disk never leaves half a row
        write_text_atomic(self.jsonl_path, "".join(json.dumps(r) + "\n" for r in rows))
        self._write_csv(rows)
        if self._tb is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                    self._tb.add_scalar(key, value, row["step"])
            self._tb.flush()

    def _write_csv(self, rows: list[dict[str, Any]]) -> None:
        keys: list[str] = []
        for row in rows:
            keys += [k for k in row if k not in keys]
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomic(self.run_dir / "metrics.csv", text.getvalue())

    def plot(self) -> Path | None:
        """Error against iterations, training dashed and test solid (He et al. 2015, Fig. 6)."""
        rows = self.rows()
        if not self.enabled or not rows:
            return None
        fig, (ax_err, ax_loss) = pyplot().subplots(1, 2, figsize=(11, 4))
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
            if ax.get_legend_handles_labels()[0]:  # a task without error rates has no curve
                ax.legend()
        return save_figure(fig, self.run_dir / CURVES_PNG, tight=True)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def pyplot():
    """matplotlib's pyplot on the file-only backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, dpi: int = 110, tight: bool = False) -> Path:
    """Save a matplotlib figure atomically (a full disk: one line), then close it; the
    format follows the file's suffix (PNG when it has none)."""
    try:
        if tight:
            fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png")
    finally:
        pyplot().close(fig)
    return path


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)

"""What a deployment report measures of a callable model: top-1 predictions on fixed-size
batches, batch-1 latency, batch-8 throughput, size on disk; and the table it prints.

Batches are padded to one size: an int8 model is lowered once per input shape, so the last,
shorter batch of a split would otherwise cost a second lowering (and a different kernel).
"""

from __future__ import annotations

import os
from typing import Callable, Iterable

import torch

from ..fastest import seconds_per_call

Model = Callable[[torch.Tensor], torch.Tensor]


@torch.inference_mode()
def predictions(model: Model, images: Iterable[torch.Tensor], batch: int) -> torch.Tensor:
    """Top-1 class of every image, fed ``batch`` at a time (the last batch padded)."""
    out = []
    for chunk in _rebatch(images, batch):
        n = len(chunk)
        if n < batch:
            chunk = torch.cat([chunk, chunk[:1].expand(batch - n, *chunk.shape[1:])])
        out.append(model(chunk.contiguous()).argmax(1)[:n])
    return torch.cat(out)


def _rebatch(images: Iterable[torch.Tensor], batch: int):
    pending = []
    for x in images:
        pending.extend(x.split(1))
        while len(pending) >= batch:
            yield torch.cat(pending[:batch])
            pending = pending[batch:]
    if pending:
        yield torch.cat(pending)


def speed(model: Model, shape: tuple[int, ...], seconds: float, batch: int = 8) -> dict:
    """Batch-1 latency (ms) and batch-``batch`` throughput (images/s) on random inputs."""
    generator = torch.Generator().manual_seed(0)
    one = torch.randn(1, *shape, generator=generator)
    many = torch.randn(batch, *shape, generator=generator)
    return {"latency_ms": 1000 * seconds_per_call(model, one, seconds),
            f"images_per_s_b{batch}": batch / seconds_per_call(model, many, seconds)}


def size_mb(path: str | os.PathLike) -> float:
    return os.path.getsize(path) / 2**20


def agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Share of images (percent) on which two models predict the same class."""
    return 100.0 * (a == b).float().mean().item()


def accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    return 100.0 * (predicted == labels).float().mean().item()


COLUMNS = (("accuracy", "top-1 %", "{:.2f}"), ("agreement", "agrees %", "{:.2f}"),
           ("size_mb", "MB", "{:.2f}"), ("latency_ms", "b1 ms", "{:.2f}"),
           ("images_per_s_b8", "b8 img/s", "{:.1f}"), ("speedup_b1", "b1 x", "{:.2f}"))


def table(rows: dict[str, dict]) -> list[str]:
    """The rows (label -> measures) as aligned text lines; a missing measure prints '-'."""
    width = max(len(label) for label in rows) if rows else 5
    head = f"{'':<{width}}" + "".join(f"  {title:>9}" for _, title, _ in COLUMNS)
    lines = [head]
    for label, row in rows.items():
        cells = [fmt.format(row[key]) if row.get(key) is not None else "-"
                 for key, _, fmt in COLUMNS]
        lines.append(f"{label:<{width}}" + "".join(f"  {c:>9}" for c in cells))
    return lines


def add_speedups(rows: dict[str, dict], reference: str) -> None:
    """Each row's batch-1 speed-up over the ``reference`` row (its latency / theirs)."""
    ref = rows[reference].get("latency_ms")
    for row in rows.values():
        if ref and row.get("latency_ms"):
            row["speedup_b1"] = ref / row["latency_ms"]

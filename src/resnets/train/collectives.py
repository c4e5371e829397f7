"""Collectives: every process of a run calls them at the same point of the loop.

With one process (no process group) each returns its input unchanged, so the engine and the
tasks call them unconditionally. :mod:`resnets.train.distributed` starts the processes.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ResnetsError


class DistributedError(ResnetsError):
    """The processes of a run could not start together, or lost one another."""


def active() -> bool:
    """Whether this process is one of several in a process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_sum(*values: Any) -> list[float]:
    """Each value (number or one-element tensor) summed over the processes, as floats."""
    if not active():
        return [float(v) for v in values]
    total = torch.stack([torch.as_tensor(v, dtype=torch.float64).to(_device()).reshape(())
                         for v in values])
    dist.all_reduce(total)
    return total.tolist()


def any_rank(*flags: bool) -> list[bool]:
    """Each flag ORed over the processes: all of them take the same branch."""
    if not active():
        return [bool(f) for f in flags]
    raised = torch.tensor([float(bool(f)) for f in flags], device=_device())
    dist.all_reduce(raised, op=dist.ReduceOp.MAX)
    return [bool(f) for f in raised.tolist()]


def same_everywhere(value: int, what: str) -> None:
    """Raise unless every process holds the same ``value`` (e.g. the step it resumed at)."""
    if not active():
        return
    bounds = torch.tensor([value, -value], dtype=torch.int64, device=_device())
    dist.all_reduce(bounds, op=dist.ReduceOp.MAX)
    high, low = int(bounds[0]), -int(bounds[1])
    if high != low:
        raise DistributedError(f"the processes disagree on {what} ({low} to {high}); out_dir "
                               "must be one directory that every machine sees")


def broadcast_text(text: str) -> str:
    """Rank 0's ``text`` on every process (e.g. the run directory it chose)."""
    if not active():
        return text
    data = torch.tensor(list(text.encode()), dtype=torch.uint8, device=_device())
    size = torch.tensor([len(data)], dtype=torch.int64, device=_device())
    dist.broadcast(size, 0)
    if dist.get_rank() != 0:
        data = torch.empty(int(size), dtype=torch.uint8, device=_device())
    dist.broadcast(data, 0)
    return bytes(data.tolist()).decode()


def sync_buffers(module: nn.Module) -> None:
    """Give every process rank 0's buffers (BatchNorm statistics), so all evaluate one model.

    DDP broadcasts them before each forward pass, but the pass itself updates each process's
    copy with its own share of the batch.
    """
    if active():
        for buffer in module.buffers():
            dist.broadcast(buffer.data, 0)


def global_sums(sums: dict) -> dict:
    """The epoch's running sums of a task's steps (loss, correct, seen, ...; the gate's
    ``window`` pair) added over the processes; counts stay integers.

    Rank 0 saves these in checkpoints; a resumed run gives them to its rank 0 and zeros to the
    others, so they stay right when the number of processes changes.
    """
    if not active() or not sums:
        return dict(sums)
    keys = sorted(k for k in sums if k != "window")
    window = sums.get("window")
    totals = all_sum(*(sums[k] for k in keys), *(window or ()))
    out: dict[str, Any] = {}
    for key, total in zip(keys, totals):
        local = sums[key]
        counted = isinstance(local, int) or (isinstance(local, torch.Tensor)
                                             and not local.is_floating_point())
        out[key] = round(total) if counted else total
    if window is not None:
        out["window"] = (round(totals[-2]), round(totals[-1]))
    return out


def global_evaluation(result: dict) -> dict:
    """Combine the evaluations of each process's share of a split into that of the split.

    ``result`` is what ``evaluate`` returns; its confusion matrix counts the images, its
    calibration table adds up.
    """
    if not active():
        return result
    confusion = result["confusion"].to(_device())
    seen = float(confusion.sum())
    parts = [result[k] * seen if seen else 0.0 for k in ("loss", "top1_error", "top5_error")]
    loss, wrong1, wrong5, total = all_sum(*parts, seen)
    dist.all_reduce(confusion)
    confusion = confusion.cpu()
    calibration = result["calibration"].to(_device())
    dist.all_reduce(calibration)
    tables = {"confusion": confusion, "calibration": calibration.cpu()}
    if not total:
        return {**result, **tables}
    return {"loss": loss / total, "top1_error": round(wrong1) / total,
            "top5_error": round(wrong5) / total, **tables}

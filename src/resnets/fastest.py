"""Which deployment path runs fastest on this machine: measured once, cached, and said.

The fastest path depends on the CPU (issue #22: on one Xeon without AVX512-BF16, ONNX
Runtime ran ResNet-50 at batch 8 at 2.02x torch eager while torch's bf16 path ran at 0.41x),
so no rule of thumb picks it. :func:`choose` times each candidate once and keeps the
winner in the user's cache (``$XDG_CACHE_HOME/resnets/fastest.json``, else
``~/.cache/...``), keyed by CPU model, torch version, model, input, batch and threads: the
next export of the same model on the same machine reuses the choice without measuring.
``resnets export --format fastest`` uses it to pick between ONNX (run by ONNX Runtime) and
a torch.export program (run by PyTorch, BatchNorm folded).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .files import write_text_atomic
from .machine import cpu_name
from .readback import ReadBackError, read_json


@dataclass(frozen=True)
class Choice:
    name: str  # the fastest candidate
    seconds: dict[str, float]  # each candidate's seconds per call, as measured
    cached: bool  # True: read from the cache, nothing was measured now
    key: str

    def line(self, batch: int) -> str:
        """One line saying what was chosen, against what, and whether it was measured now."""
        others = ", ".join(f"{name} {1000 * s:.3g} ms" for name, s in self.seconds.items()
                           if name != self.name)
        how = f"cached in {cache_path()}" if self.cached else f"measured now, cached in " \
            f"{cache_path()}"
        return (f"chose {self.name}: {1000 * self.seconds[self.name]:.3g} ms per batch of "
                f"{batch} against {others or 'nothing else'} on {cpu_name() or 'this CPU'} "
                f"({how})")


def cache_path() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "resnets" / "fastest.json"


def cache_key(model: str, input_shape: tuple[int, ...], batch: int) -> str:
    """What a measured choice holds for: this CPU model, torch, model, input, threads."""
    shape = "x".join(map(str, input_shape))
    return (f"{cpu_name() or 'unknown CPU'} | torch {torch.__version__} | {model} {shape} | "
            f"batch {batch} | {torch.get_num_threads()} threads")


def choose(key: str, timers: dict[str, Callable[[], float]],
           cache: Path | None = None) -> Choice:
    """The candidate whose timer returns the fewest seconds, from ``cache`` when it holds
    ``key`` (no timer runs then); a measured choice is written back. A damaged cache is
    measured over and rewritten: it only ever saves time."""
    cache = cache or cache_path()
    known = _read(cache)
    entry = known.get(key)
    if (isinstance(entry, dict) and entry.get("name") in timers
            and isinstance(entry.get("seconds"), dict)):
        return Choice(entry["name"], entry["seconds"], True, key)
    seconds = {name: float(timer()) for name, timer in timers.items()}
    name = min(seconds, key=seconds.get)
    known[key] = {"name": name, "seconds": seconds}
    write_text_atomic(cache, json.dumps(known, indent=2) + "\n")
    return Choice(name, seconds, False, key)


def _read(cache: Path) -> dict:
    if not cache.is_file():
        return {}
    try:
        return read_json(cache, "fastest-path cache")
    except ReadBackError:
        return {}


@torch.inference_mode()
def seconds_per_call(model: Callable, x: torch.Tensor, seconds: float, warmup: int = 2,
                     min_calls: int = 3) -> float:
    """The fastest call's wall time on ``x``, after ``warmup`` untimed calls (lowering,
    weight packing), timed for ``seconds`` and at least ``min_calls`` calls. The fastest, not
    the median: on a shared machine a call is only ever slowed by the others' work, so the
    least disturbed call is the best estimate of what the model itself costs."""
    for _ in range(warmup):
        model(x)
    best, calls = float("inf"), 0
    end = time.perf_counter() + seconds
    while calls < min_calls or time.perf_counter() < end:
        start = time.perf_counter()
        model(x)
        best = min(best, time.perf_counter() - start)
        calls += 1
    return best

"""The training device named by a setting: checked to exist before any work starts; values
moved onto it.

Below :mod:`resnets.train.config` (whose ``validate`` checks ``device``) and
:mod:`resnets.train.setup`, so that neither imports the other.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ResnetsError


def to_device(value: Any, device: torch.device) -> Any:
    """``value`` with its tensors, also those in (nested) tuples and lists, on ``device``:
    a checkpoint's running sums, read on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, (tuple, list)):
        return type(value)(to_device(v, device) for v in value)
    return value


def resolve_device(name: str) -> torch.device:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` as a torch.device that exists here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ResnetsError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ResnetsError("device=cuda but no CUDA GPU is visible; use device=cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ResnetsError(f"device={name} but only {torch.cuda.device_count()} CUDA GPU(s) are "
                           "visible, cuda:0 and up; choose one of them")
    mps = getattr(torch.backends, "mps", None)
    if device.type == "mps" and not (mps and mps.is_available()):
        raise ResnetsError("device=mps but this machine has no MPS (Apple GPU); use device=cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ResnetsError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` as the precision this device runs fastest: bf16 where the hardware computes
    it natively (CUDA compute capability 8.0+, CPUs with AVX512-BF16 or AMX), fp16 on older
    GPUs, fp32 elsewhere; any other value as it is."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.get_device_capability(device)[0] >= 8 else "fp16"
    if device.type == "cpu":
        from ..models.fuse import bf16_supported

        return "bf16" if bf16_supported() else "fp32"
    return "fp32"

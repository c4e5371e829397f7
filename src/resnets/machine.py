"""The machine a measurement ran on: platform, CPU model, torch, threads (and the GPU)."""

from __future__ import annotations

import os
import platform

import torch


def machine(device: str = "cuda") -> dict:
    """The machine of a result: platform, CPU, torch, threads, and the GPU of ``device``."""
    info = {"platform": platform.platform(), "processor": platform.processor() or cpu_name(),
            "cpus": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads()}
    if torch.cuda.is_available() and device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` is empty on Linux)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return ""

"""The benchmark suite: our models against torchvision (and timm) and against the machine.

For each model: training images/s, inference images/s at batch 8, batch-1 latency and peak
memory, for our eager model, the reference in the same settings, and our fast path. Every
measurement runs in its own process (``resnets.bench.case``), one after another, in this one
run, so ratios compare like with like. Results are JSON; ``benchmarks/render_performance.py``
turns them into ``docs/performance.md``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace

import torch

from ..errors import ResnetsError
from ..models.summary import count_macs
from .case import Case

# torchvision has no CIFAR ResNets: there the reference is our own eager fp32 model.
TORCHVISION = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"}
NATIVE = {"resnet20": 32, "resnet56": 32, "resnet18": 224, "resnet50": 224}


@dataclass(frozen=True)
class SuiteConfig:
    models: tuple[str, ...] = ("resnet20", "resnet56", "resnet18", "resnet50")
    device: str = "cpu"
    train_batch: int = 32  # images per training step
    infer_batch: int = 8  # images per inference call
    seconds: float = 5.0  # measuring time per case (after warm-up)
    compile: bool = True  # include torch.compile in the fast path
    checkpointing: bool = True  # also measure ResNet-152 with activation checkpointing
    timeout: float = 1800.0  # seconds allowed per case (compilation included)
    threads: int = 0  # intra-op threads per case; 0 = PyTorch's default


def fast_variants(device: str, compile_: bool) -> list[dict]:
    """The fast paths: channels_last and compilation in fp32, and with bf16 autocast where the
    device computes in bf16 natively (CUDA, or CPUs with AVX512-BF16/AMX)."""
    fp32 = {"channels_last": True, "compile": compile_}
    return [fp32, {**fp32, "precision": "bf16"}] if _bf16_native(device) else [fp32]


def _bf16_native(device: str) -> bool:
    if device.startswith("cuda"):
        return True
    from ..models.fuse import bf16_supported

    return bf16_supported()


def plan(cfg: SuiteConfig) -> list[Case]:
    fast = fast_variants(cfg.device, cfg.compile)
    cases = [Case("matmul", device=cfg.device, seconds=cfg.seconds)]
    if len(fast) > 1:
        cases.append(Case("matmul", device=cfg.device, precision="bf16", seconds=cfg.seconds))
    for name in cfg.models:
        if name not in NATIVE:
            raise ResnetsError(f"no benchmark settings for {name!r}; choose from "
                               f"{', '.join(NATIVE)}")
        res = NATIVE[name]
        ref = "torchvision" if name in TORCHVISION else "ours"
        for kind, batch in (("train", cfg.train_batch), ("infer", cfg.infer_batch),
                            ("latency", 1)):
            base = Case(kind, name, "ours", res, batch, cfg.device, seconds=cfg.seconds)
            cases.append(base)
            if ref != "ours":
                cases.append(replace(base, impl=ref))
            if ref != "ours" and _timm_available():  # timm has no CIFAR ResNets either
                cases.append(replace(base, impl="timm"))
            cases += [replace(base, **flags, fuse=kind != "train") for flags in fast]
            if kind != "train" and cfg.device == "cpu":
                cases.append(replace(base, impl="onnxruntime"))
    if cfg.checkpointing:
        base = Case("train", "resnet152", "ours", 224, 32, cfg.device, seconds=cfg.seconds,
                    warmup=1)
        cases += [base, replace(base, checkpointing=True)]
    return cases


def _timm_available() -> bool:
    try:
        import timm  # noqa: F401
    except ImportError:
        return False
    return True


def run_case(case: Case, timeout: float, threads: int | None = None) -> dict:
    argv = [sys.executable, "-m", "resnets.bench.case", json.dumps(asdict(case))]
    if threads:
        argv.append(str(threads))
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"case": asdict(case), "label": case.label, "error": f"timeout {timeout}s"}
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"case": asdict(case), "label": case.label, "error": tail[0]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> dict:
    info = {"platform": platform.platform(), "processor": platform.processor() or _cpu_name(),
            "cpus": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` is empty on Linux)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return ""


def summarise(results: list[dict], device: str) -> dict:
    """Ratios to the reference and fractions of the matmul peak, per model and kind."""
    probes = [r for r in results if r["case"]["kind"] == "matmul" and "gflops" in r]
    peaks = {r["case"]["precision"]: r["gflops"] for r in probes}
    table: dict = {}
    for r in results:
        c = r["case"]
        if c["kind"] == "matmul" or "error" in r:
            continue
        table.setdefault(c["model"], {}).setdefault(c["kind"], {})[r["label"]] = r
    for model, kinds in table.items():
        if model not in NATIVE:
            continue
        macs = count_macs(model)
        for kind, rows in kinds.items():
            ref_label = "torchvision" if model in TORCHVISION else "ours"
            ref = rows.get(ref_label)
            for row in rows.values():
                if ref:
                    row["ratio_to_reference"] = (row["images_per_s"] / ref["images_per_s"]
                                                 if kind != "latency" else
                                                 ref["latency_ms"] / row["latency_ms"])
                # A training step costs about 3 forward passes (forward, 2 x backward).
                passes = 3 if kind == "train" else 1
                peak = peaks.get(row["case"]["precision"]) or peaks.get("fp32")
                if peak:
                    row["fraction_of_peak"] = (2 * macs * passes * row["images_per_s"]
                                               / (peak * 1e9))
    out = {"matmul_gflops": peaks, "models": table,
           "peak_kernels": {r["case"]["precision"]: r.get("kernels", {}) for r in probes}}
    ckpt = table.get("resnet152", {}).get("train", {})
    plain, saved = ckpt.get("ours"), ckpt.get("ours+ckpt")
    if plain and saved:
        out["checkpointing"] = {
            "peak_mem_mb": plain["peak_mem_mb"], "peak_mem_mb_checkpointed": saved["peak_mem_mb"],
            "memory_saving": 1 - saved["peak_mem_mb"] / max(plain["peak_mem_mb"], 1e-9),
            "slowdown": plain["images_per_s"] / saved["images_per_s"]}
    return out


def run_suite(cfg: SuiteConfig, log=print) -> dict:
    cases = plan(cfg)
    results, started = [], time.time()
    for i, case in enumerate(cases, 1):
        log(f"[{i}/{len(cases)}] {case.kind:<7} {case.model or '-':<10} {case.label}")
        results.append(run_case(case, cfg.timeout, cfg.threads or None))
        if "error" in results[-1]:
            log(f"    failed: {results[-1]['error']}")
    return {"config": asdict(cfg), "machine": machine(), "device": cfg.device,
            "seconds": time.time() - started, "results": results,
            "summary": summarise(results, cfg.device)}

"""The benchmark suite: our models against torchvision (and timm) and against the machine.

For each model: training images/s, inference images/s at batch 8, batch-1 latency and peak
memory, for our eager model, the reference in the same settings, and our fast path. Every
measurement runs in its own process (``resnets.bench.case``), one after another, in this one
run, so ratios compare like with like. With ``rounds`` > 1 the whole list runs that many times
over and each case reports its median: a passing disturbance on a shared machine then spoils
one round of a case, not the case. Results are JSON; ``benchmarks/render_performance.py``
turns them into ``docs/performance.md``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from typing import ClassVar

import torch

from ..limits import DEVICE, FLAG, Limit, check_fields, integer, number
from ..machine import machine  # also read here by the benchmarks/ scripts
from ..models.summary import count_macs
from ..train.config import TrainConfig
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
    rounds: int = 1  # times the list of cases runs over, interleaved; medians are reported

    KEY: ClassVar[str] = "--{flag}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "models": Limit(str, choices=tuple(NATIVE), many=True), "device": DEVICE,
        "train_batch": integer(1, 4096),
        "infer_batch": integer(1, 4096), "seconds": number(0, 3600, open_low=True),
        "compile": FLAG, "checkpointing": FLAG, "timeout": number(0, 86400, open_low=True),
        "threads": integer(0, 1024), "rounds": integer(1, 100),
    }

    def __post_init__(self) -> None:
        check_fields(self)


def fast_variants(device: str, compile_: bool) -> list[dict]:
    """The fast paths: channels_last and compilation in fp32, and with bf16 autocast where the
    device computes in bf16 natively (CUDA GPUs from Ampere on, CPUs with AVX512-BF16/AMX)."""
    fp32 = {"channels_last": True, "compile": compile_}
    return [fp32, {**fp32, "precision": "bf16"}] if _bf16_native(device) else [fp32]


def _bf16_native(device: str) -> bool:
    if device.startswith("cuda"):  # Ampere and later; older GPUs only emulate bf16
        return torch.cuda.is_bf16_supported(including_emulation=False)
    from ..models.fuse import bf16_supported

    return bf16_supported()


def ours_defaults(kind: str) -> dict:
    """The Case flags of our model as users get it: ``resnets train`` trains in its default
    memory format (channels_last); inference takes the model as built."""
    return {"channels_last": TrainConfig().channels_last} if kind == "train" else {}


def defaults_label(kind: str) -> str:
    return Case(kind, **ours_defaults(kind)).label


def reference_label(model: str, kind: str) -> str:
    """torchvision's model as users get it; for the CIFAR nets, our own with defaults."""
    return "torchvision" if model in TORCHVISION else defaults_label(kind)


def plan(cfg: SuiteConfig) -> list[Case]:
    fast = fast_variants(cfg.device, cfg.compile)
    cases = [Case("matmul", device=cfg.device, seconds=cfg.seconds)]
    if len(fast) > 1:
        cases.append(Case("matmul", device=cfg.device, precision="bf16", seconds=cfg.seconds))
    for name in cfg.models:
        res = NATIVE[name]
        ref = "torchvision" if name in TORCHVISION else "ours"
        for kind, batch in (("train", cfg.train_batch), ("infer", cfg.infer_batch),
                            ("latency", 1)):
            base = Case(kind, name, "ours", res, batch, cfg.device, seconds=cfg.seconds)
            cases.append(replace(base, **ours_defaults(kind)))
            if ref != "ours":
                cases.append(replace(base, impl=ref))
                if kind == "train":  # what a torchvision user gains by switching to NHWC
                    cases.append(replace(base, impl=ref, channels_last=True))
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


def combine_rounds(runs: list[dict]) -> dict:
    """One case's rounds as one result: the median speed, the highest peak memory."""
    rates = sorted(r["images_per_s"] for r in runs)
    out = {**runs[0], "images_per_s": statistics.median(rates),
           "latency_ms": statistics.median(r["latency_ms"] for r in runs),
           "peak_mem_mb": max(r["peak_mem_mb"] for r in runs)}
    if len(runs) > 1:
        out["rounds_images_per_s"] = rates
    return out


def _peaks(probes: list[dict]) -> tuple[dict, dict]:
    """The best rate per precision over the probe's rounds, overall and per kernel."""
    peaks: dict = {}
    kernels: dict = {}
    for r in probes:
        precision = r["case"]["precision"]
        peaks[precision] = max(peaks.get(precision, 0.0), r["gflops"])
        best = kernels.setdefault(precision, {})
        for name, rate in r.get("kernels", {}).items():
            best[name] = max(best.get(name, 0.0), rate)
    return peaks, kernels


def summarise(results: list[dict], device: str) -> dict:
    """Ratios to the reference and fractions of the measured peaks, per model and kind.

    Fractions are given against two peaks: the best dense kernel probed (``fraction_of_peak``)
    and the plain matrix product (``fraction_of_matmul_peak``), the issue's measure.
    """
    probes = [r for r in results if r["case"]["kind"] == "matmul" and "gflops" in r]
    peaks, peak_kernels = _peaks(probes)
    grouped: dict = {}
    for r in results:
        c = r["case"]
        if c["kind"] == "matmul" or "error" in r:
            continue
        key = (c["model"], c["kind"], r["label"])
        grouped.setdefault(key, []).append(r)
    table: dict = {}
    for (model, kind, label), runs in grouped.items():
        table.setdefault(model, {}).setdefault(kind, {})[label] = combine_rounds(runs)
    for model, kinds in table.items():
        if model not in NATIVE:
            continue
        macs = count_macs(model)
        for kind, rows in kinds.items():
            ref = rows.get(reference_label(model, kind))
            for row in rows.values():
                if ref:
                    row["ratio_to_reference"] = (row["images_per_s"] / ref["images_per_s"]
                                                 if kind != "latency" else
                                                 ref["latency_ms"] / row["latency_ms"])
                # A training step costs about 3 forward passes (forward, 2 x backward).
                passes = 3 if kind == "train" else 1
                precision = row["case"]["precision"]
                flops = 2 * macs * passes * row["images_per_s"]
                peak = peaks.get(precision) or peaks.get("fp32")
                if peak:
                    row["fraction_of_peak"] = flops / (peak * 1e9)
                matmul = peak_kernels.get(precision, {}).get("matmul")
                if matmul:
                    row["fraction_of_matmul_peak"] = flops / (matmul * 1e9)
    out = {"matmul_gflops": peaks, "models": table, "peak_kernels": peak_kernels,
           "slower_than_reference": slower_than_reference(table),
           "defaults_labels": {kind: defaults_label(kind) for kind in ("train", "infer",
                                                                          "latency")}}
    ckpt = table.get("resnet152", {}).get("train", {})
    plain, saved = ckpt.get("ours"), ckpt.get("ours+ckpt")
    if plain and saved:
        out["checkpointing"] = {
            "peak_mem_mb": plain["peak_mem_mb"], "peak_mem_mb_checkpointed": saved["peak_mem_mb"],
            "memory_saving": 1 - saved["peak_mem_mb"] / max(plain["peak_mem_mb"], 1e-9),
            "slowdown": plain["images_per_s"] / saved["images_per_s"]}
    return out


def slower_than_reference(table: dict) -> list[str]:
    """The fast paths (any case but the reference) that ran slower than their reference on
    this machine, e.g. bf16 autocast on a CPU that only emulates bf16: "model kind label
    0.36x". Our defaults are not a fast path and are reported by their ratio alone."""
    slow = []
    for model, kinds in table.items():
        for kind, rows in kinds.items():
            reference = reference_label(model, kind)
            for label, row in rows.items():
                ratio = row.get("ratio_to_reference")
                if (label not in (reference, defaults_label(kind)) and ratio is not None
                        and ratio < 1):
                    slow.append(f"{model} {kind} {label} {ratio:.2f}x")
    return slow


def schedule(cfg: SuiteConfig) -> list[tuple[int, Case]]:
    """(round, case) in running order: every round runs the whole plan, except the ResNet-152
    checkpointing pair (a memory measurement, and the slowest cases), which runs once."""
    cases = plan(cfg)
    return [(r, c) for r in range(1, cfg.rounds + 1) for c in cases
            if r == 1 or c.model != "resnet152"]


def run_suite(cfg: SuiteConfig, log=print) -> dict:
    order = schedule(cfg)
    results, started = [], time.time()
    for i, (round_, case) in enumerate(order, 1):
        log(f"[{i}/{len(order)}] round {round_} {case.kind:<7} {case.model or '-':<10} "
            f"{case.label}")
        results.append({**run_case(case, cfg.timeout, cfg.threads or None), "round": round_})
        if "error" in results[-1]:
            log(f"    failed: {results[-1]['error']}")
    return {"config": asdict(cfg), "machine": machine(cfg.device), "device": cfg.device,
            "seconds": time.time() - started, "results": results,
            "summary": summarise(results, cfg.device)}

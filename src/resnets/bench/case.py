"""One benchmark measurement, run in its own process: ``python -m resnets.bench.case SPEC``.

A fresh process per case keeps compile caches, allocator state and peak-memory readings of
one case out of the next. The spec is JSON (see :class:`Case`); the result is one JSON line.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Case:
    kind: str  # train | infer | latency | matmul (the peak probe)
    model: str = ""  # registry name (ours) or torchvision/timm model name
    impl: str = "ours"  # ours | torchvision | timm | onnxruntime
    resolution: int = 224  # input side, pixels
    batch: int = 8  # images per call
    device: str = "cpu"
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    channels_last: bool = False
    compile: bool = False  # torch.compile
    fuse: bool = False  # fold BN into convolutions (inference)
    checkpointing: bool = False  # activation checkpointing, block by block (training)
    seconds: float = 5.0  # measuring time after warm-up
    warmup: int = 3  # untimed calls first (compilation happens here)

    @property
    def label(self) -> str:
        parts = [self.impl]
        for flag, name in ((self.channels_last, "cl"), (self.fuse, "fused"),
                           (self.compile, "compiled"), (self.checkpointing, "ckpt")):
            if flag:
                parts.append(name)
        if self.precision != "fp32":
            parts.append(self.precision)
        return "+".join(parts)


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_model(case: Case) -> torch.nn.Module:
    if case.impl == "torchvision":
        import torchvision

        return getattr(torchvision.models, case.model)(weights=None)
    if case.impl == "timm":
        import timm

        return timm.create_model(case.model, pretrained=False)
    from resnets.models import create_model

    return create_model(case.model)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(case: Case, device: torch.device):
    import contextlib

    if case.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_step(case: Case, device: torch.device):
    """A zero-argument callable doing one timed unit of work."""
    fmt = torch.channels_last if case.channels_last else torch.contiguous_format
    x = torch.randn(case.batch, 3, case.resolution, case.resolution, device=device)
    x = x.contiguous(memory_format=fmt)
    if case.impl == "onnxruntime":
        from resnets.export import OnnxModel, export_onnx

        path = export_onnx(build_model(Case(**{**asdict(case), "impl": "ours"})),
                           tempfile.mkdtemp() + "/model.onnx", tuple(x.shape[1:]))
        runner = OnnxModel(path, threads=torch.get_num_threads())  # as many as PyTorch
        return lambda: runner(x)
    model = build_model(case).to(device)
    if case.kind == "train":
        model = model.to(memory_format=fmt).train()
        if case.checkpointing:
            model.set_grad_checkpointing(True)
        net = torch.compile(model) if case.compile else model
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        y = torch.randint(0, 10, (case.batch,), device=device)

        def train_step():
            with _autocast(case, device):
                loss = F.cross_entropy(net(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return train_step
    model.eval()
    if case.impl == "ours" and (case.fuse or case.compile or case.precision != "fp32"):
        from resnets.models.fuse import optimize_for_inference

        fast = optimize_for_inference(model, channels_last=case.channels_last, fuse=case.fuse,
                                      compile=case.compile, precision=case.precision)
        return lambda: fast(x)
    model = model.to(memory_format=fmt)

    @torch.inference_mode()
    def infer_step():
        return model(x)
    return infer_step


# Dense kernels the peak probe tries: a square matrix product (MKL's GEMM) and NHWC 3x3 and 1x1
# convolutions (oneDNN's JIT kernels, which beat MKL's GEMM on some CPUs, e.g. AMD EPYC). On
# CUDA GPUs from Ampere on, cuDNN runs fp32 convolutions in TF32 by default (and so do the
# models' fp32 cases) while the fp32 matmul stays IEEE fp32: the fp32 "peak" is then a TF32
# rate, and a fraction of the matmul peak can exceed 1.
PEAK_KERNELS = ("matmul", "conv3x3", "conv1x1")


def peak_gflops(device: torch.device, dtype: torch.dtype, seconds: float) -> dict:
    """The best rate of several dense kernels: the machine's measured multiply-add peak."""
    rates = {}
    for kernel in PEAK_KERNELS:
        fn, flops = _peak_kernel(kernel, device, dtype)
        best, end = 0.0, time.perf_counter() + seconds / len(PEAK_KERNELS)
        fn()  # first call: kernel selection, JIT and weight packing
        while best == 0.0 or time.perf_counter() < end:  # at least one timed round
            _sync(device)
            start = time.perf_counter()
            for _ in range(5):
                fn()
            _sync(device)
            best = max(best, 5 * flops / (time.perf_counter() - start) / 1e9)
        rates[kernel] = best
    return {"gflops": max(rates.values()), "kernels": rates}


def _peak_kernel(kernel: str, device: torch.device, dtype: torch.dtype):
    big = device.type == "cuda"
    if kernel == "matmul":
        n = 8192 if big else 2048
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        return (lambda: torch.mm(a, b)), 2 * n**3
    k = 3 if kernel == "conv3x3" else 1
    batch, chans, side = (64 if big else 8), 256, 28
    conv = torch.nn.Conv2d(chans, chans, k, padding=k // 2, bias=False)
    conv = conv.to(device=device, dtype=dtype, memory_format=torch.channels_last)
    x = torch.randn(batch, chans, side, side, device=device, dtype=dtype)
    x = x.contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def run():
        return conv(x)
    return run, 2 * batch * side * side * chans * chans * k * k


def run(case: Case) -> dict:
    device = torch.device(case.device)
    if case.kind == "matmul":
        dtype = torch.bfloat16 if case.precision == "bf16" else torch.float32
        return peak_gflops(device, dtype, case.seconds)
    # Memory is counted from before the model is built: weights, optimiser state, workspace
    # and activations, alike for PyTorch and ONNX Runtime (whose arena grows at first run).
    base = _rss_mb()
    step = make_step(case, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(case.warmup):
        step()
    _sync(device)
    times = []
    end = time.perf_counter() + case.seconds
    while time.perf_counter() < end or len(times) < 2:
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    result = {"images_per_s": case.batch * len(times) / sum(times),
              "latency_ms": 1000 * statistics.median(times), "calls": len(times)}
    cuda = device.type == "cuda"
    result["peak_mem_mb"] = (torch.cuda.max_memory_allocated(device) / 2**20 if cuda
                             else max(_peak_rss_mb() - base, 0.0))
    return result


if __name__ == "__main__":
    spec = Case(**json.loads(sys.argv[1]))
    if len(sys.argv) > 2:
        torch.set_num_threads(int(sys.argv[2]))
    print(json.dumps({"case": asdict(spec), "label": spec.label, **run(spec)}))

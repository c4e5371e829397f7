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
    kind: str  # train | infer | latency | matmul
    model: str = ""  # registry name (ours) or torchvision/timm model name
    impl: str = "ours"  # ours | torchvision | timm | onnxruntime
    resolution: int = 224  # input side, pixels
    batch: int = 8  # images per call
    device: str = "cpu"
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    channels_last: bool = False
    compile: bool = False  # torch.compile
    fuse: bool = False  # fold BN into convolutions (inference)
    checkpointing: bool = False  # activation checkpointing per stage (training)
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
    from resnets import create_model

    return create_model(case.model)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


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
    model = build_model(case).to(device).to(memory_format=fmt)
    if case.checkpointing:
        model.set_grad_checkpointing(True)
    if case.kind == "train":
        model.train()
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
    if case.fuse:
        from resnets.models.fuse import fuse_conv_bn

        model = fuse_conv_bn(model)
    net = torch.compile(model) if case.compile else model

    @torch.inference_mode()
    def infer_step():
        with _autocast(case, device):
            return net(x)
    return infer_step


def matmul_gflops(device: torch.device, dtype: torch.dtype, seconds: float) -> float:
    """The machine's measured matrix-multiply rate: square products, best of several runs."""
    n = 4096 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        _sync(device)
        start = time.perf_counter()
        for _ in range(10):
            torch.mm(a, b)
        _sync(device)
        best = max(best, 10 * 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return best


def run(case: Case) -> dict:
    device = torch.device(case.device)
    if case.kind == "matmul":
        dtype = torch.bfloat16 if case.precision == "bf16" else torch.float32
        return {"gflops": matmul_gflops(device, dtype, case.seconds)}
    step = make_step(case, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    base = _rss_mb()
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
    result["peak_mem_mb"] = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
                             else max(_peak_rss_mb() - base, 0.0))
    return result


if __name__ == "__main__":
    spec = Case(**json.loads(sys.argv[1]))
    if len(sys.argv) > 2:
        torch.set_num_threads(int(sys.argv[2]))
    print(json.dumps({"case": asdict(spec), "label": spec.label, **run(spec)}))

"""Where one training step spends its time: convolutions against everything else.

    python benchmarks/profile_step.py --model resnet50 --threads 2

Profiles eager training steps (batch 32, 224x224, SGD with momentum) of our model in
``resnets train``'s default memory format (channels_last) with ``torch.profiler`` and sorts the
operators' own time into groups. The convolutions' rate (2 x MACs x passes / their time) is
the ceiling of the whole step's fraction of the machine's peak: the other groups only add time.
Writes JSON (``--out``) that ``render_performance.py --profile`` adds to docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from resnets import create_model
from resnets.bench.suite import machine
from resnets.models.summary import count_macs

GROUPS = {  # group: operator names (their own time, children excluded)
    "convolution forward": ("aten::mkldnn_convolution", "aten::cudnn_convolution",
                            "aten::_slow_conv2d_forward", "aten::thnn_conv2d"),
    "convolution backward": ("aten::convolution_backward",),
    "batch norm (forward and backward)": ("aten::native_batch_norm",
                                          "aten::native_batch_norm_backward"),
    "ReLU (forward and backward)": ("aten::threshold_backward", "aten::clamp_min_",
                                    "aten::relu_", "aten::clamp_min"),
    "additions (residual sums, counters)": ("aten::add", "aten::add_"),
}


def profile_step(model_name: str, batch: int, steps: int) -> dict:
    fmt = torch.channels_last
    model = create_model(model_name).to(memory_format=fmt).train()
    x = torch.randn(batch, 3, 224, 224).contiguous(memory_format=fmt)
    y = torch.randint(0, 1000, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # first step: oneDNN kernel selection and allocations
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    own = {e.key: e.self_cpu_time_total / 1e6 / steps for e in prof.key_averages()}
    total = sum(own.values())
    groups = {name: sum(own.get(op, 0.0) for op in ops) for name, ops in GROUPS.items()}
    groups["everything else (optimiser, pooling, loss, allocation)"] = total - sum(
        groups.values())
    flops = 2 * count_macs(model_name) * batch
    conv = {"forward_gflops": flops / groups["convolution forward"] / 1e9,
            "backward_gflops": 2 * flops / groups["convolution backward"] / 1e9,
            "all_gflops": 3 * flops / (groups["convolution forward"]
                                       + groups["convolution backward"]) / 1e9}
    return {"model": model_name, "batch": batch, "steps": steps, "seconds_per_step": total,
            "images_per_s": batch / total, "step_gflops": 3 * flops / total / 1e9,
            "groups_seconds": groups, "convolutions": conv}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads")
    parser.add_argument("--out", default="benchmarks/results/profile_resnet50.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = profile_step(args.model, args.batch, args.steps)
    result["machine"] = {**machine(), "python": platform.python_version()}
    result["command"] = (f"python benchmarks/profile_step.py --model {args.model} --batch "
                         f"{args.batch} --steps {args.steps}"
                         + (f" --threads {args.threads}" if args.threads else ""))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for name, seconds in result["groups_seconds"].items():
        print(f"{name:<55} {seconds:7.3f} s  {seconds / result['seconds_per_step']:5.1%}")
    print(json.dumps(result["convolutions"]))


if __name__ == "__main__":
    main()

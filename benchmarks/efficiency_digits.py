"""Benchmark: pruned and distilled runs beside their references (docs/efficiency.md).

Each ``LABEL=RUN_DIR`` is loaded as ``resnets evaluate`` loads it; the table gives its
parameters, MACs at the run's image size, test accuracy (its summary.json), and CPU batch-1
latency and batch-8 throughput of the eager fp32 model in eval mode with ``--threads`` intra-op
threads. The runs are timed in interleaved rounds and the medians reported, so that a load
that comes and goes on a shared machine reaches every row alike.

    OMP_NUM_THREADS=1 python benchmarks/efficiency_digits.py r56=runs/r56-s0 \
        pruned=runs/r56-s0-pruned50 [--threads 1] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from resnets.bench.suite import machine
from resnets.files import write_text_atomic
from resnets.models.summary import count_macs, count_params
from resnets.train.inference import load_trained


def seconds_per_call(model: torch.nn.Module, x: torch.Tensor, calls: int) -> float:
    with torch.inference_mode():
        model(x)  # warm-up: allocations, oneDNN primitives
        start = time.perf_counter()
        for _ in range(calls):
            model(x)
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50, help="forward passes per timing")
    parser.add_argument("--out", default="benchmarks/results/efficiency_digits.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows, models = [], []
    for spec in args.runs:
        label, _, run = spec.partition("=")
        model, state, cfg = load_trained(run, torch.device("cpu"))
        size = int(state["image_size"])
        summary = json.loads((Path(run) / "summary.json").read_text())
        models.append((model, torch.randn(1, state["in_chans"], size, size)))
        rows.append({"label": label, "run": run, "model": cfg.model.name,
                     "pruned": bool(cfg.model.branch_widths),
                     "teacher": cfg.distill.teacher, "seed": cfg.seed, "epochs": cfg.epochs,
                     "params": count_params(model), "macs": count_macs(model, size),
                     "test_accuracy": summary["test_accuracy"], "b1": [], "b8": []})
    for _ in range(args.rounds):
        for row, (model, x) in zip(rows, models):
            row["b1"].append(seconds_per_call(model, x, args.calls))
            row["b8"].append(seconds_per_call(model, x.repeat(8, 1, 1, 1), args.calls // 4))
    print("| run | params | MACs | test accuracy | batch-1 latency | batch-8 images/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        row["batch1_ms"] = 1000 * statistics.median(row.pop("b1"))
        row["batch8_images_per_s"] = 8 / statistics.median(row.pop("b8"))
        print(f"| {row['label']} | {row['params']:,} | {row['macs'] / 1e6:.1f}M | "
              f"{100 * row['test_accuracy']:.2f}% | {row['batch1_ms']:.2f} ms | "
              f"{row['batch8_images_per_s']:.0f} |")
    load = os.getloadavg()  # other work on the machine slows every row: say how much there was
    print(f"threads {args.threads}, load average {load[0]:.1f} over the last minute")
    write_text_atomic(args.out, json.dumps({"machine": machine("cpu"), "threads": args.threads,
                                            "rounds": args.rounds, "load_average": load,
                                            "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

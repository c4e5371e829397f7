"""Benchmark: accuracy and wall time of the main job (`resnets train`, no arguments).

The target: at least 98% test accuracy on the embedded digits in under 60 seconds on a 2-core
CPU. Runs the job for each seed in one process and reports every run.

    python benchmarks/main_job.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from resnets.bench.suite import machine
from resnets.train.engine import train
from resnets.train.recipes import DEFAULT_RECIPE, recipe_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="benchmarks/results/main_job.json")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            cfg = recipe_config(DEFAULT_RECIPE, {"seed": str(seed), "out_dir": tmp,
                                                 "device": "cpu"})
            start = time.perf_counter()
            summary = train(cfg)
            runs.append({"seed": seed, "test_accuracy": summary["test_accuracy"],
                         "wall_seconds": round(time.perf_counter() - start, 1)})
    accs = [r["test_accuracy"] for r in runs]
    result = {
        "benchmark": "main_job", "recipe": DEFAULT_RECIPE,
        "machine": machine(),
        "runs": runs, "mean_accuracy": statistics.mean(accs), "min_accuracy": min(accs),
        "max_wall_seconds": max(r["wall_seconds"] for r in runs),
        "targets": {"accuracy": 0.98, "wall_seconds": 60},
        "command": "python benchmarks/main_job.py --seeds " + " ".join(map(str, args.seeds)),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark: VDCNN on the generated four-topic text demo set, CPU only.

The target (issue #9): at least 90% test accuracy in a short run. Writes the set into a
temporary folder, trains with `resnets text train`'s recipe (ag-news-vdcnn9; batch, epochs
and learning rate as given) and reports accuracy and times.

    OMP_NUM_THREADS=1 python benchmarks/text_demo.py [--model vdcnn9] [--epochs 4]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from resnets.bench.suite import machine
from resnets.text.demo import TextDemoConfig, make_text_demo
from resnets.train.engine import train
from resnets.train.recipes import recipe_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="vdcnn9")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--grad-clip", type=float, default=5.0)
    parser.add_argument("--train-per-class", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/text_demo.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        counts = make_text_demo(f"{tmp}/data", TextDemoConfig(
            train_per_class=args.train_per_class, seed=args.seed))
        cfg = recipe_config("ag-news-vdcnn9", {
            "data.root": f"{tmp}/data", "model.name": args.model, "epochs": str(args.epochs),
            "batch_size": str(args.batch_size), "optim.lr": str(args.lr),
            "optim.grad_clip": str(args.grad_clip),
            "seed": str(args.seed), "device": "cpu", "out_dir": f"{tmp}/runs"})
        summary = train(cfg)
        total = time.perf_counter() - start
    result = {
        "benchmark": "text_demo", "model": args.model, "epochs": args.epochs,
        "batch_size": args.batch_size, "lr": args.lr, "grad_clip": args.grad_clip,
        "rows": counts,
        "test_accuracy": summary["test_accuracy"], "steps": summary["steps"],
        "train_seconds": round(summary["train_seconds"], 1), "total_seconds": round(total, 1),
        "machine": machine(),
        "targets": {"accuracy": 0.90},
        "command": f"OMP_NUM_THREADS=1 python benchmarks/text_demo.py --model {args.model} "
                   f"--epochs {args.epochs} --batch-size {args.batch_size} --lr {args.lr} "
                   f"--grad-clip {args.grad_clip} "
                   f"--train-per-class {args.train_per_class} --seed {args.seed}",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

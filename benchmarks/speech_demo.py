"""Benchmark: keyword spotting on the espeak-ng demo set (10 words), CPU only.

The target (issue #9): at least 90% test accuracy within 10 minutes on CPU, generating the
set included. Writes the set into a temporary folder, trains res8 with `resnets speech
train`'s recipe (speech-commands-res8) and reports accuracy and times.

    OMP_NUM_THREADS=1 python benchmarks/speech_demo.py [--epochs 15] [--model res8]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from resnets.bench.suite import machine
from resnets.speech.demo import DemoConfig, make_demo
from resnets.train.engine import train
from resnets.train.recipes import recipe_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="res8")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--clips-per-word", type=int, default=DemoConfig.clips_per_word)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/speech_demo.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        counts = make_demo(f"{tmp}/data", DemoConfig(clips_per_word=args.clips_per_word,
                                                     seed=args.seed))
        generated = time.perf_counter() - start
        cfg = recipe_config("speech-commands-res8", {
            "data.root": f"{tmp}/data", "model.name": args.model,
            "epochs": str(args.epochs), "seed": str(args.seed),
            "device": "cpu", "out_dir": f"{tmp}/runs"})
        summary = train(cfg)
        total = time.perf_counter() - start
    result = {
        "benchmark": "speech_demo", "model": args.model, "epochs": args.epochs,
        "clips": counts, "test_accuracy": summary["test_accuracy"],
        "steps": summary["steps"], "generate_seconds": round(generated, 1),
        "train_seconds": round(summary["train_seconds"], 1), "total_seconds": round(total, 1),
        "machine": machine(),
        "targets": {"accuracy": 0.90, "total_seconds": 600},
        "command": f"OMP_NUM_THREADS=1 python benchmarks/speech_demo.py --model {args.model} "
                   f"--epochs {args.epochs} --clips-per-word {args.clips_per_word} "
                   f"--seed {args.seed}",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

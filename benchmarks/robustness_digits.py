"""Benchmark: standard vs PGD adversarial vs fast adversarial training of ResNet-20 on the
digits, each attacked with FGSM, PGD and the square attack (`resnets attack`).

Trains the three recipes (digits-resnet20, digits-pgd-at, digits-fast-at) for the same short
number of epochs with one seed, then reports clean accuracy, each attack's robust accuracy
and the worst case at each eps, the gradient-masking checks, and the training time.

    OMP_NUM_THREADS=1 python benchmarks/robustness_digits.py [--epochs 15] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from resnets.bench.suite import machine
from resnets.robust.cli import main as attack_main
from resnets.train.engine import train
from resnets.train.recipes import recipe_config

RECIPES = ("digits-resnet20", "digits-pgd-at", "digits-fast-at")
EPS = ("8/255", "16/255")
CHECKED_EPS = "16/255"  # the gradient-masking checks run at the training radius


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=20, help="PGD steps of the evaluation")
    parser.add_argument("--restarts", type=int, default=2, help="PGD restarts")
    parser.add_argument("--queries", type=int, default=500, help="square attack queries")
    parser.add_argument("--out", default="benchmarks/results/robustness_digits.json")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in RECIPES:
            cfg = recipe_config(recipe, {"epochs": str(args.epochs), "seed": str(args.seed),
                                         "device": "cpu", "out_dir": tmp, "run_name": recipe})
            start = time.perf_counter()
            summary = train(cfg)
            row = {"recipe": recipe, "adv": cfg.adv.method,
                   "train_seconds": round(time.perf_counter() - start, 1),
                   "test_accuracy": summary["test_accuracy"], "attacks": {}}
            for eps in EPS:
                folder = Path(tmp) / recipe / eps.replace("/", "-")
                attack_main(["--checkpoint", str(Path(tmp) / recipe), "--eps", eps,
                             "--steps", str(args.steps), "--restarts", str(args.restarts),
                             "--queries", str(args.queries), "--seed", str(args.seed),
                             "--device", "cpu", "--out", str(folder)]
                            + (["--checks"] if eps == CHECKED_EPS else []))
                report = json.loads((folder / "attack-test.json").read_text())
                row["attacks"][eps] = {k: report[k] for k in (
                    "images", "clean_accuracy", "robust_accuracy", "worst_case_accuracy",
                    "warnings", "checks") if k in report}
            runs.append(row)
    result = {
        "benchmark": "robustness_digits", "epochs": args.epochs, "seed": args.seed,
        "evaluation": {"pgd_steps": args.steps, "pgd_restarts": args.restarts,
                       "square_queries": args.queries, "eps": list(EPS)},
        "machine": machine(),
        "runs": runs,
        "command": f"OMP_NUM_THREADS=1 python benchmarks/robustness_digits.py --epochs "
                   f"{args.epochs} --seed {args.seed} --steps {args.steps} --restarts "
                   f"{args.restarts} --queries {args.queries}",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

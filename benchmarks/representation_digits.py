"""Benchmark: open-set verification on the digits (issue #19, docs/representation.md).

Embeddings are trained on digit classes 0-5 only (the recipes digits-arcface, digits-cosface,
digits-triplet, digits-softmax: ResNet-20, the same epochs); `resnets metric pairs` writes an
LFW-format set of classes 6-9 (never seen in training: 10 folds of 300 matched and 300
mismatched pairs); `resnets verify` reports the 10-fold accuracy, TAR at FAR and rank-1 of
each run. Every seed is reported, and the mean.

    nice -n 10 OMP_NUM_THREADS=1 python benchmarks/representation_digits.py [--seeds 0 1 2]
        [--recipes digits-{loss}-neck --losses arcface softmax] [--epochs N] [--set K=V ...]
        [--dataset digits | cifar10 --root ../shared/data/cifar10-subset]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from resnets.bench.suite import machine
from resnets.files import write_text_atomic
from resnets.metric.lfw import write_pairs_from_dataset
from resnets.metric.verify import verify
from resnets.train.engine import train
from resnets.train.recipes import recipe_config

LOSSES = ("arcface", "cosface", "triplet", "softmax")
KEYS = ("accuracy", "tar_at_far_0.001", "tar_at_far_0.0001", "rank1", "map")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--losses", nargs="+", default=list(LOSSES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=0,
                        help="epochs of every run; 0 = the recipes' (10)")
    parser.add_argument("--recipes", default="digits-{loss}",
                        help="the recipe of each loss, e.g. digits-{loss}-neck")
    parser.add_argument("--dataset", default="digits", choices=("digits", "cifar10"))
    parser.add_argument("--root", default="", help="cifar10: the folder of its files")
    parser.add_argument("--per-fold", type=int, default=300)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="settings over the recipes, for every loss (e.g. metric.dim=64)")
    parser.add_argument("--out", default="benchmarks/results/representation_digits.json")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        pairs = Path(tmp) / "lfw"
        write_pairs_from_dataset(str(pairs), args.dataset, args.root, "test" if
                                 args.dataset == "cifar10" else "all", "6-9", 10,
                                 args.per_fold, 0, 0, False)
        for loss in args.losses:
            for seed in args.seeds:
                overrides = {**({"epochs": args.epochs} if args.epochs else {}),
                             "seed": seed, "device": "cpu",
                             "deterministic": True, "out_dir": f"{tmp}/runs",
                             "run_name": f"{loss}-{seed}", "data.dataset": args.dataset,
                             "data.root": args.root,
                             **dict(pair.split("=", 1) for pair in args.set)}
                start = time.perf_counter()
                recipe = args.recipes.format(loss=loss)
                summary = train(recipe_config(recipe, overrides))
                report = verify(str(pairs), None, summary["run_dir"], f"{tmp}/v-{loss}-{seed}",
                                device_name="cpu")
                runs.append({"loss": loss, "recipe": recipe, "seed": seed, "seconds":
                             round(time.perf_counter() - start, 1),
                             "test_recall1_seen_classes": summary.get("test_recall1"),
                             **{k: report[k] for k in KEYS}})
                print(json.dumps(runs[-1]), flush=True)
    table = ["| loss | seeds | 10-fold accuracy (per seed) | mean | TAR@FAR 1e-3 | rank-1 | mAP |",
             "|---|---|---|---|---|---|---|"]
    for loss in args.losses:
        mine = [r for r in runs if r["loss"] == loss]
        per_seed = ", ".join(f"{100 * r['accuracy']:.2f}" for r in mine)
        mean = {k: 100 * statistics.mean(r[k] for r in mine) for k in KEYS}
        table.append(f"| {loss} | {', '.join(str(r['seed']) for r in mine)} | {per_seed} | "
                     f"{mean['accuracy']:.2f} | {mean['tar_at_far_0.001']:.2f} | "
                     f"{mean['rank1']:.2f} | {mean['map']:.2f} |")
    result = {"benchmark": "representation_digits", "dataset": args.dataset, "set": args.set,
              "epochs": args.epochs, "pairs": f"10 folds x {args.per_fold} + {args.per_fold}",
              "runs": runs, "table": table, "machine": machine(),
              "command": f"OMP_NUM_THREADS=1 python benchmarks/representation_digits.py "
                         f"--dataset {args.dataset} --recipes {args.recipes} "
                         f"--epochs {args.epochs} --seeds "
                         f"{' '.join(map(str, args.seeds))} --losses {' '.join(args.losses)}"
                         + (f" --set {' '.join(args.set)}" if args.set else "")}
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()

"""Benchmark: ResNet-20 on the digits with each attention module (docs/attention.md).

Trains the main job's recipe (digits-resnet20) with ``model.attn_layer`` none, se, cbam, eca
and gc (reduction ratio 4 for all: 16 would leave one hidden channel on the first stage's 16
channels), for the given epochs and seeds, and reports parameters and test accuracy. With
``--cifar-root DIR`` the same on a CIFAR-10 folder (``cifar-10-batches-py`` layout, e.g. the
subset in ../shared/data) with the efficient CIFAR recipe (cifar10-resnet20-efficient).

    OMP_NUM_THREADS=1 python benchmarks/attention_digits.py [--epochs 10] [--seeds 0] \
        [--modules none se cbam eca gc] [--cifar-root DIR --out RESULT.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from resnets.bench.suite import machine
from resnets.files import write_text_atomic
from resnets.models import create_model
from resnets.models.summary import count_params
from resnets.train.engine import train
from resnets.train.recipes import recipe_config

MODULES = ("none", "se", "cbam", "eca", "gc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--modules", nargs="+", default=list(MODULES), choices=MODULES)
    parser.add_argument("--cifar-root", default="", help="a CIFAR-10 folder instead of digits")
    parser.add_argument("--out", default="benchmarks/results/attention_digits.json")
    args = parser.parse_args()
    runs = []
    data = ({"data.dataset": "cifar10", "data.root": args.cifar_root, "eval_every": "0"}
            if args.cifar_root else {})
    recipe = "cifar10-resnet20-efficient" if args.cifar_root else "digits-resnet20"
    with tempfile.TemporaryDirectory() as tmp:
        for module in args.modules:
            attn = {} if module == "none" else {"model.attn_layer": module,
                                                "model.se_reduction": "4"}
            options = {} if module == "none" else {"attn_layer": module, "se_reduction": 4}
            params = count_params(create_model("resnet20", **options))
            for seed in args.seeds:
                name = f"{module}-{seed}"
                cfg = recipe_config(recipe, {
                    "epochs": str(args.epochs), "seed": str(seed), "device": "cpu",
                    "out_dir": tmp, "run_name": name, **data, **attn})
                start = time.perf_counter()
                summary = train(cfg)
                runs.append({"attn_layer": module, "seed": seed, "params": params,
                             "test_accuracy": summary["test_accuracy"],
                             "train_seconds": round(time.perf_counter() - start, 1)})
                print(json.dumps(runs[-1]), flush=True)
                write_text_atomic(args.out, json.dumps(
                    {"settings": vars(args), "machine": machine(), "runs": runs},
                    indent=2) + "\n")


if __name__ == "__main__":
    main()

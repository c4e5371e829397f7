"""Benchmark: self-supervised pretraining on the CIFAR-10 subset against random
initialisation and supervised training at equal epochs (kNN top-1 and linear probe).

For each seed: `resnets pretrain train` (labels unused) and `resnets train` (labels used)
run side by side for the same epochs on the same ResNet-20; then `resnets pretrain knn` and
`resnets probe` score the three backbones (random: `none`) on the subset's test split.
Writes a JSON report and prints the markdown table of docs/selfsup.md.

    nice -n 10 OMP_NUM_THREADS=1 python benchmarks/selfsup_cifar.py \\
        --root /work/shared/data/cifar10-subset --epochs 25 --resize 16 --seeds 0
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from resnets import data as D
from resnets.files import write_text_atomic

CLI = [sys.executable, "-m", "resnets.cli"]


def write_folder(root: str, out: Path) -> None:
    """The subset as train/ and val/ class folders of PNGs, for `resnets probe`."""
    from PIL import Image

    for split, folder in (("train", "train"), ("test", "val")):
        ds = D.load_cifar(root, "cifar10", split)
        for i, (image, label) in enumerate(zip(ds.images, ds.labels.tolist())):
            target = out / folder / ds.classes[label]
            target.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(target / f"{i:05d}.png")


def score(weights: str, args, folder: Path, tmp: Path, seed: int) -> dict:
    knn_out, probe_out = tmp / "knn.json", tmp / "probe.json"
    subprocess.run([*CLI, "pretrain", "knn", weights, "--model", args.model, "--dataset",
                    "cifar10", "--root", args.root, "--seed", str(seed), "--device", "cpu",
                    "--resize", str(args.resize),
                    "--out", str(knn_out)], check=True)
    probe = [*CLI, "probe", str(folder), "--model", args.model, "--image-size",
             str(args.resize), "--workers", "0", "--device", "cpu", "--out", str(probe_out)]
    probe += ["--weights", weights]
    subprocess.run(probe, check=True)
    return {"knn_top1": json.loads(knn_out.read_text())["knn_top1"],
            "probe_top1": json.loads(probe_out.read_text())["val_top1"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="folder of the CIFAR-10 (subset) files")
    parser.add_argument("--method", default="simclr", choices=("simclr", "byol"))
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--resize", type=int, default=16, help="image side, pixels")
    parser.add_argument("--seeds", default="0", help="comma-separated")
    parser.add_argument("--runs", default="runs/selfsup-bench")
    parser.add_argument("--out", default="benchmarks/results/selfsup_cifar.json")
    args = parser.parse_args()
    common = ["device=cpu", f"data.resize={args.resize}", f"epochs={args.epochs}",
              f"out_dir={args.runs}"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        write_folder(args.root, tmp / "folder")
        for seed in [int(s) for s in args.seeds.split(",")]:
            start = time.perf_counter()
            Path(args.runs).mkdir(parents=True, exist_ok=True)
            ssl_log = Path(args.runs) / f"{args.method}-seed{seed}.log"
            sup_log = Path(args.runs) / f"supervised-seed{seed}.log"
            ssl = [*CLI, "pretrain", "train", "--recipe", f"{args.method}-cifar10",
                   f"data.root={args.root}", f"ssl.model={args.model}", f"seed={seed}",
                   "batch_size=128", "schedule.warmup_iters=32", "views.crop_min_scale=0.2",
                   "eval_every=5", f"run_name={args.method}-seed{seed}", *common]
            sup = [*CLI, "train", f"model.name={args.model}", "data.dataset=cifar10",
                   f"data.root={args.root}", f"seed={seed}",
                   f"run_name=supervised-seed{seed}", *common]
            with open(ssl_log, "w") as a, open(sup_log, "w") as b:
                procs = [subprocess.Popen(ssl, stdout=a), subprocess.Popen(sup, stdout=b)]
                if any(p.wait() for p in procs):
                    raise SystemExit(f"a training failed: see {ssl_log} and {sup_log}")
            trained = time.perf_counter() - start
            runs = (("random", "none"), (args.method, f"{args.runs}/{args.method}-seed{seed}"),
                    ("supervised", f"{args.runs}/supervised-seed{seed}"))
            for name, weights in runs:
                rows.append({"seed": seed, "init": name, "weights": weights,
                             "train_seconds": trained, **score(weights, args,
                                                                 tmp / "folder", tmp, seed)})
            write_text_atomic(args.out, json.dumps(rows, indent=2) + "\n")
    print(f"| seed | backbone ({args.model}, {args.epochs} epochs) | kNN top-1 (%) | "
          "linear probe top-1 (%) |\n|---|---|---:|---:|")
    for row in rows:
        print(f"| {row['seed']} | {row['init']} | {100 * row['knn_top1']:.2f} | "
              f"{100 * row['probe_top1']:.2f} |")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()

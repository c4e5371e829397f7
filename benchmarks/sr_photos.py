"""Demo: x2 super-resolution trained on one of scikit-learn's two photos, scored on the other.

Writes the photos (``resnets sr photos``), trains the recipe ``photos-vdsr-x2`` with and
without its skips (``network.residual=false``) at the same steps and seed, one process each
in parallel, and writes the table of docs/generative.md: the PSNR and SSIM on the
luminance (border of 2 pixels left out) of each network and of bicubic upsampling, at every
evaluation. Writes benchmarks/results/sr_photos.json and prints the Markdown table.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/sr_photos.py --out-dir runs/sr-photos
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from resnets.files import write_text_atomic

VARIANTS = (("residual", "true"), ("no skips", "false"))


def train_commands(args: argparse.Namespace, photos: Path) -> list[list[str]]:
    base = [sys.executable, "-m", "resnets.cli", "sr", "train", "--recipe", args.recipe,
            "--train", str(photos / "train"), "--val", str(photos / "val"),
            "--steps", str(args.steps), "--seed", str(args.seed), "--device", "cpu",
            "--out-dir", str(args.out_dir), f"eval_every={args.eval_every}",
            *args.settings]
    return [base + ["--run-name", f"{label.replace(' ', '-')}-seed{args.seed}",
                    f"network.residual={flag}"] for label, flag in VARIANTS]


def evaluations(run_dir: Path) -> list[dict]:
    """The rows of metrics.csv that hold an evaluation (the step, PSNR and SSIM)."""
    with open(run_dir / "metrics.csv", newline="", encoding="utf-8") as f:
        return [row for row in csv.DictReader(f) if row.get("psnr")]


def table(results: dict[str, list[dict]], seed: int) -> str:
    lines = ["| network | seed | step | PSNR (dB) | SSIM | bicubic PSNR | bicubic SSIM | "
             "PSNR - bicubic |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, rows in results.items():
        for row in rows:
            lines.append(f"| {label} | {seed} | {row['step']} | {float(row['psnr']):.2f} | "
                         f"{float(row['ssim']):.4f} | {float(row['bicubic_psnr']):.2f} | "
                         f"{float(row['bicubic_ssim']):.4f} | "
                         f"{float(row['psnr_gain']):+.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, default=Path("runs/sr-photos"))
    parser.add_argument("--recipe", default="photos-vdsr-x2")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--eval-every", type=int, default=4, help="epochs between scores")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-photo", default="china", choices=("china", "flower"))
    parser.add_argument("--out", default="benchmarks/results/sr_photos.json")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: the table of the evaluations the runs in "
                        "--out-dir have written so far (e.g. of runs stopped early)")
    parser.add_argument("settings", nargs="*", help="more key=value settings for both runs")
    args = parser.parse_args()
    photos = args.out_dir / "photos"
    start = time.perf_counter()
    if not args.report_only:
        subprocess.run([sys.executable, "-m", "resnets.cli", "sr", "photos", str(photos),
                        "--train", args.train_photo, "--force"], check=True)
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        jobs = [subprocess.Popen(cmd, env=env) for cmd in train_commands(args, photos)]
        if any(job.wait() for job in jobs):
            sys.exit("a training run failed; see its output above")
    results = {label: evaluations(args.out_dir / f"{label.replace(' ', '-')}-seed{args.seed}")
               for label, _ in VARIANTS}
    report = {"recipe": args.recipe, "steps": args.steps, "seed": args.seed,
              "train_photo": args.train_photo, "settings": args.settings,
              "wall_seconds": time.perf_counter() - start, "evaluations": results,
              "table": table(results, args.seed)}
    write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    print(report["table"])


if __name__ == "__main__":
    main()

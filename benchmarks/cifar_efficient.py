"""Benchmark: the data-efficient CIFAR recipe beside the paper's recipe, at the same epochs.

Trains ResNet-20 on a CIFAR-10 folder (docs/training.md uses the 4,068-image subset in
../shared/data/cifar10-subset) with ``cifar10-resnet20-efficient`` and with the paper's
``cifar10-resnet20`` shortened to the same epochs (cosine decay instead of the 64k-step
schedule), for every seed, one thread per run, ``--jobs`` runs at a time. Writes a JSON file
and prints a Markdown table of every run and the means.

    python benchmarks/cifar_efficient.py --root ../shared/data/cifar10-subset \
        --seeds 0 1 2 --baseline-seeds 0 1 2 --jobs 4 --runs-dir runs/cifar-efficient

With ``--runs-dir`` the runs are kept, and the same command run again continues the
unfinished ones from their last checkpoints (and reads the finished ones' summaries).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import statistics
import sys
import tempfile
from pathlib import Path

RECIPE = "cifar10-resnet20-efficient"
BASELINE = "cifar10-resnet20"


def _settings(recipe: str, epochs: int) -> dict[str, str]:
    """The recipe's settings for a run of ``epochs``: the paper's 64k-step schedule is
    replaced by cosine decay over the same epochs as the efficient recipe."""
    if recipe == BASELINE:
        return {"epochs": str(epochs), "iterations": "0", "schedule.name": "cosine"}
    return {"epochs": str(epochs)}


def _one_run(job: tuple[str, int, int, str, str]) -> dict:
    recipe, seed, epochs, root, out_dir = job
    import torch

    from resnets.train.engine import train
    from resnets.train.recipes import recipe_config

    torch.set_num_threads(1)
    name = f"{recipe}-seed{seed}"
    cfg = recipe_config(recipe, {**_settings(recipe, epochs), "seed": str(seed),
                                 "device": "cpu", "data.dataset": "cifar10",
                                 "data.root": root, "eval_every": "0", "out_dir": out_dir,
                                 "run_name": name})
    # A kept --runs-dir makes the command continue where a cut-short one stopped.
    run_dir = Path(out_dir) / name
    if (run_dir / "summary.json").is_file():
        summary = json.loads((run_dir / "summary.json").read_text())
    elif (run_dir / "last.pt").is_file():
        summary = train(cfg, resume_dir=run_dir)
    else:
        summary = train(cfg, reenter=run_dir.is_dir())
    return {"recipe": recipe, "seed": seed, "test_accuracy": summary["test_accuracy"],
            "train_seconds_last_process": round(summary["train_seconds"], 1)}


def _mean(runs: list[dict], recipe: str) -> float | None:
    accs = [r["test_accuracy"] for r in runs if r["recipe"] == recipe]
    return statistics.mean(accs) if accs else None


def table(result: dict) -> str:
    """Markdown: one row per run, then each recipe's mean and the gap between the means."""
    lines = ["| recipe | seed | test accuracy |", "| --- | --- | --- |"]
    for r in sorted(result["runs"], key=lambda r: (r["recipe"] != RECIPE, r["seed"])):
        lines.append(f"| `{r['recipe']}` | {r['seed']} | {100 * r['test_accuracy']:.1f}% |")
    for recipe in (RECIPE, BASELINE):
        if result["means"].get(recipe) is not None:
            lines.append(f"| `{recipe}` | mean | {100 * result['means'][recipe]:.1f}% |")
    if result.get("gap") is not None:
        lines.append(f"| difference of the means | | {100 * result['gap']:+.1f} points |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="folder holding cifar-10-batches-py")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--baseline-seeds", type=int, nargs="*", default=None,
                        help="seeds of the paper's recipe (default: --seeds)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    parser.add_argument("--out", default="benchmarks/results/cifar_efficient.json")
    parser.add_argument("--runs-dir", default="",
                        help="keep the runs here; run again to continue them (default: a "
                             "temporary folder)")
    args = parser.parse_args(argv)
    from resnets.bench.suite import machine
    from resnets.errors import ResnetsError
    from resnets.files import check_writable, write_text_atomic

    root = Path(args.root)
    try:
        if not (root / "cifar-10-batches-py").is_dir():
            raise ResnetsError(f"{root} holds no cifar-10-batches-py folder; pass --root the "
                               "folder that does")
        check_writable(Path(args.out).parent)
        if args.runs_dir:
            check_writable(args.runs_dir)
    except ResnetsError as exc:
        print(f"cifar_efficient: error: {exc}", file=sys.stderr)
        return 2
    baseline_seeds = args.seeds if args.baseline_seeds is None else args.baseline_seeds
    result = {"benchmark": "cifar_efficient", "root": str(root), "epochs": args.epochs,
              "machine": machine("cpu"), "runs": [], "means": {}, "gap": None,
              "command": "python benchmarks/cifar_efficient.py " + " ".join(
                  sys.argv[1:] if argv is None else argv)}
    with contextlib.ExitStack() as stack:
        runs_dir = args.runs_dir or stack.enter_context(tempfile.TemporaryDirectory())
        # Each efficient seed beside a baseline seed, so a cut-short session still compares.
        jobs = [(RECIPE, s, args.epochs, str(root), runs_dir) for s in args.seeds]
        base = [(BASELINE, s, args.epochs, str(root), runs_dir) for s in baseline_seeds]
        order = [job for pair in zip(jobs, base) for job in pair]
        order += jobs[len(base):] + base[len(jobs):]
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            for run in pool.imap_unordered(_one_run, order):
                result["runs"].append(run)
                result["means"] = {r: _mean(result["runs"], r) for r in (RECIPE, BASELINE)}
                if None not in result["means"].values():
                    result["gap"] = result["means"][RECIPE] - result["means"][BASELINE]
                write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
                print(json.dumps(run), flush=True)
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Render a `resnets bench` JSON result as docs/performance.md.

    python benchmarks/render_performance.py benchmarks/results/bench.json \
        [--profile benchmarks/results/profile_resnet50.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

KIND_TITLES = {"train": "Training (images/s)", "infer": "Inference (images/s)",
               "latency": "Batch-1 latency (ms, lower is better)"}


def render_profile(prof: dict, peak: float | None) -> list[str]:
    """The profile of one eager training step (benchmarks/profile_step.py)."""
    step = prof["seconds_per_step"]
    lines = [f"## Where a {prof['model']} training step spends its time", "",
             f"Eager, channels_last, batch {prof['batch']}, {prof['steps']} profiled steps "
             f"(`{prof['command']}`): {step:.2f} s per step ({prof['images_per_s']:.1f} "
             f"images/s).", "", "| operators | seconds per step | share |", "|---|---:|---:|"]
    lines += [f"| {name} | {sec:.3f} | {sec / step:.0%} |"
              for name, sec in prof["groups_seconds"].items()]
    conv = prof["convolutions"]
    lines += ["", f"The convolutions alone run at {conv['forward_gflops']:.0f} GFLOP/s forward "
              f"and {conv['backward_gflops']:.0f} GFLOP/s backward ({conv['all_gflops']:.0f} "
              "together)"]
    if peak:
        lines[-1] += (f", {conv['all_gflops'] / peak:.0%} of the best dense kernel probed: "
                      "a step that spent no time outside its convolutions would reach that "
                      "fraction of the peak and no more")
    lines[-1] += "."
    return lines + [""]


def render(result: dict, prof: dict | None = None) -> str:
    cfg, summary, mach = result["config"], result["summary"], result["machine"]
    rounds = cfg.get("rounds", 1)
    lines = ["# Performance", "",
             f"Measured by `resnets bench --device {cfg['device']} --models "
             f"{','.join(cfg['models'])} --seconds {cfg['seconds']}"
             f"{' --threads ' + str(cfg['threads']) if cfg.get('threads') else ''}"
             f"{' --rounds ' + str(rounds) if rounds > 1 else ''}` "
             f"(training batch {cfg['train_batch']}, inference batch {cfg['infer_batch']}), "
             "every case in its own process, one after another, in one run"
             + (f"; the whole list ran {rounds} times over and each value is the median of "
                "its rounds (ResNet-152 checkpointing: one round)." if rounds > 1 else "."),
             "",
             f"Machine: {mach.get('gpu') or mach['processor'] or 'CPU'}; {mach['cpus']} CPUs; "
             f"torch {mach['torch']}; {mach['platform']}.", ""]
    if result.get("note"):
        lines += [result["note"], ""]
    lines += targets(summary)
    for precision, gflops in summary["matmul_gflops"].items():
        kernels = summary.get("peak_kernels", {}).get(precision, {})
        detail = ", ".join(f"{k} {v:.1f}" for k, v in kernels.items())
        lines.append(f"Measured multiply-add peak ({precision}): {gflops:.1f} GFLOP/s, the best "
                     f"of the dense kernels probed{f' ({detail})' if detail else ''}.  ")
    lines += ["", "Ratios are to the reference measured in the same run: torchvision's model "
              "for resnet18/50 as torchvision builds it (NCHW), our own eager fp32 model with "
              "default settings for the CIFAR nets (torchvision has none). Our defaults: "
              "`resnets train` trains in channels_last (NHWC), so our training row with "
              "defaults is `ours+cl`; `torchvision+cl` shows what a torchvision user gains by "
              "switching to NHWC by hand. Fraction of peak = 2 x MACs x passes x images/s / "
              "peak of the case's precision, with 3 passes for a training step and 1 for "
              "inference. Labels: cl = "
              "channels_last, fused = BatchNorm folded into the convolutions, compiled = "
              "torch.compile (inference: with frozen weights), bf16 = bf16 autocast, ckpt = "
              "activation checkpointing; peak memory is the growth of the process's peak "
              "resident memory from before the model was built (CPU) or torch's peak "
              "allocation (CUDA).", ""]
    for model, kinds in summary["models"].items():
        if model == "resnet152":
            continue
        lines += [f"## {model}", ""]
        for kind, rows in kinds.items():
            value = "latency_ms" if kind == "latency" else "images_per_s"
            lines += [f"**{KIND_TITLES[kind]}**", "",
                      "| variant | value | ratio to reference | fraction of peak | "
                      "peak memory (MB) | rounds (images/s) |", "|---|---:|---:|---:|---:|---|"]
            for label, row in rows.items():
                ratio = row.get("ratio_to_reference")
                frac = row.get("fraction_of_peak")
                spread = row.get("rounds_images_per_s")
                lines.append(f"| {label} | {row[value]:.1f} | "
                             f"{'' if ratio is None else f'{ratio:.2f}x'} | "
                             f"{'' if frac is None or kind == 'latency' else f'{frac:.0%}'} | "
                             f"{row['peak_mem_mb']:.0f} | "
                             f"{', '.join(f'{v:.1f}' for v in spread) if spread else ''} |")
            lines.append("")
    ckpt = summary.get("checkpointing")
    if ckpt:
        lines += ["## Activation checkpointing (ResNet-152, batch 32, 224x224, training)", "",
                  f"Peak memory {ckpt['peak_mem_mb']:.0f} MB without, "
                  f"{ckpt['peak_mem_mb_checkpointed']:.0f} MB with checkpointing: "
                  f"{ckpt['memory_saving']:.0%} less, at {ckpt['slowdown']:.2f}x the time "
                  "per step.", ""]
    if prof:
        lines += render_profile(prof, summary["matmul_gflops"].get("fp32"))
    lines += USAGE
    failed = [r for r in result["results"] if "error" in r]
    if failed:
        lines += ["## Cases that failed", ""]
        lines += [f"- {r['case']['kind']} {r['case']['model']} {r['label']}: {r['error']}"
                  for r in failed]
    return "\n".join(lines) + "\n"


USAGE = [
    "## Using the fast paths", "",
    "- Training: `resnets train` trains in channels_last by default (`channels_last=false` for "
    "NCHW); add `compile=true precision=bf16` for the fast path (bf16 pays on GPUs and on CPUs "
    "with native bf16, AVX512-BF16 or AMX; elsewhere keep fp32).",
    "- Inference: `resnets.models.fuse.optimize_for_inference(model, compile=True, "
    "precision=\"bf16\")` folds BatchNorm, runs NHWC and compiles with frozen weights; "
    "`resnets.export.export_onnx` + `OnnxModel` run the folded model in ONNX Runtime.",
    "- Memory: `model.set_grad_checkpointing()` or `model.grad_checkpointing=true` recomputes "
    "each block (and the stem) in backward.",
    "- In-memory datasets are held and augmented on the training device (GPU-resident data).",
    "",
]


def targets(summary: dict) -> list[str]:
    """The issue's CPU targets against this run: best fast path per precision, per model."""
    lines = ["## Against the targets", "",
             "| model | training, defaults | training, fast fp32 | training, fast bf16 | "
             "inference b8, fast fp32 | inference b8, fast bf16 | ONNX Runtime b8 |",
             "|---|---:|---:|---:|---:|---:|---:|"]

    def ratio(rows: dict, label: str) -> str:
        value = rows.get(label, {}).get("ratio_to_reference")
        return "" if value is None else f"{value:.2f}x"

    defaults = summary.get("defaults_labels", {}).get("train", "ours")
    for model, kinds in summary["models"].items():
        if model == "resnet152":
            continue
        train, infer = kinds.get("train", {}), kinds.get("infer", {})
        lines.append(f"| {model} | {ratio(train, defaults)} | "
                     f"{ratio(train, 'ours+cl+compiled')} | "
                     f"{ratio(train, 'ours+cl+compiled+bf16')} | "
                     f"{ratio(infer, 'ours+cl+fused+compiled')} | "
                     f"{ratio(infer, 'ours+cl+fused+compiled+bf16')} | "
                     f"{ratio(infer, 'onnxruntime')} |")
    lines.append("")
    r50 = summary["models"].get("resnet50", {}).get("train", {})
    for key, peak in (("fraction_of_matmul_peak", "matrix-multiply peak (the target's measure)"),
                      ("fraction_of_peak", "best dense kernel probed")):
        fractions = [f"{label} {row[key]:.0%}" for label, row in r50.items() if key in row]
        if fractions:
            lines += [f"ResNet-50 training, fraction of the measured {peak}: "
                      f"{', '.join(fractions)} (target: 80% of the matrix-multiply peak).", ""]
    ckpt = summary.get("checkpointing")
    if ckpt:
        lines += [f"ResNet-152 activation checkpointing: {ckpt['memory_saving']:.0%} less peak "
                  f"memory at {ckpt['slowdown']:.2f}x the time per step (target: 40% less).",
                  ""]
    lines += ["Targets (CPU): training >= 1.0x the reference with defaults and >= 1.3x with "
              "the fast path; inference at batch 8 >= 2x torchvision eager fp32 with the fast "
              "path; ResNet-50 training at >= 80% of the measured matrix-multiply peak (each case "
              "against the peak of its own precision). The reference of resnet20/56 is our own "
              "eager fp32 model.", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("result")
    parser.add_argument("--out", default="docs/performance.md")
    parser.add_argument("--profile", help="JSON of benchmarks/profile_step.py to add")
    parser.add_argument("--deployment", nargs="*", default=[],
                        help="JSON results of benchmarks/deployment.py to add")
    args = parser.parse_args()
    prof = json.loads(Path(args.profile).read_text()) if args.profile else None
    text = render(json.loads(Path(args.result).read_text()), prof)
    if args.deployment:
        sys.path.insert(0, str(Path(__file__).parent))
        from deployment import markdown

        text += "\n" + markdown([json.loads(Path(p).read_text()) for p in args.deployment])
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

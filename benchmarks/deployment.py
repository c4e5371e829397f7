"""The deployment table (issue #22 item 4): every variant of a model side by side, in one run.

For ResNet-20 (32 px) and ResNet-18/50 (224 px), with random weights and random inputs:
eager fp32, compiled, BN-folded, ONNX Runtime fp32, int8 PT2E (torch) and int8 ONNX Runtime:
size on disk, batch-1 latency, batch-8 throughput. With ``--run RUN_DIR`` the same variants of
a trained run, with accuracy on its test split and top-1 agreement with its fp32 model. More
rows plug in with ``--extra LABEL=RUN_DIR`` (any run the registry tools accept: pruned or
distilled students): each is measured as an fp32 eager row beside the run's.

    python benchmarks/deployment.py --run runs/digits20 --threads 1 \
        --out benchmarks/results/deployment.json
    python benchmarks/deployment.py --render benchmarks/results/deployment.json  # markdown
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from resnets.files import write_text_atomic
from resnets.machine import machine
from resnets.models import create_model
from resnets.quantize import command, measure
from resnets.quantize.variants import deployment_variants

NATIVE = {"resnet20": 32, "resnet18": 224, "resnet50": 224}


def random_subject(name: str, images: int) -> command.Subject:
    torch.manual_seed(0)
    side = NATIVE[name]
    shape = (3, side, side)
    batches = list(torch.randn(images, *shape).split(command.EVAL_BATCH))
    return command.Subject(create_model(name).eval(), name, shape, batches, batches, None)


def section(subject: command.Subject, args, folder: Path, log) -> dict:
    start = time.time()
    models, files = deployment_variants(subject.model, subject.shape, folder,
                                        subject.calibration, args.threads,
                                        compile=not args.no_compile)
    rows = command.measure_rows(models, files, subject, args.seconds)
    log(f"{subject.name} {'x'.join(map(str, subject.shape))}: {time.time() - start:.0f} s")
    for line in measure.table(rows):
        log("  " + line)
    return {"model": subject.name, "input_shape": list(subject.shape),
            "test_data": "test split" if subject.labels is not None else "random images",
            "test_images": sum(len(b) for b in subject.test), "rows": rows}


def extra_rows(pairs: list[str], args, folder: Path) -> dict:
    """The eager fp32 row of each ``LABEL=RUN_DIR``, with the size of its torch.export
    program (written into ``folder``), as the run's own eager row has."""
    from resnets.export import WRITERS

    rows = {}
    for number, pair in enumerate(pairs):
        label, _, run = pair.partition("=")
        subject = command.from_run(run, 1)
        program = folder / f"extra{number}.pt2"
        WRITERS["exported-program"](subject.model, torch.zeros(2, *subject.shape), program)
        rows[label] = command.measure_rows({label: subject.model}, {label: program}, subject,
                                           args.seconds)[label]
        rows[label]["agreement"] = None  # its own fp32 model: agreement says nothing
    return rows


HEADING = "## Deployment: int8, ONNX Runtime, BN folding"


def markdown(results: list[dict]) -> str:
    """Results of one or more runs as the docs/performance.md section (a table per model)."""
    lines = [HEADING, "",
             "Each variant of a model side by side in one run (`benchmarks/deployment.py`). "
             "Size: the file the variant deploys as (fp32: a torch.export program; ONNX; the "
             "int8 .pt2 and .onnx); latency: the fastest of at least 3 calls over the timing "
             "window after warm-up, at batch 1, and the batch-8 throughput likewise; the "
             "speed-up is batch-1 latency against eager fp32 of the same run. Random weights "
             "where no run is named: agreement is then on random images and there is no "
             "accuracy.", ""]
    for result in results:
        m = result["machine"]
        lines += [f"Measured by `{result['command']}`: {m['processor'] or 'CPU'}, "
                  f"{m['cpus']} CPUs, torch {m['torch']}, {result['threads']} intra-op "
                  f"thread(s) for every row, {result['seconds']} s timing window.", ""]
        for sec in result["sections"]:
            trained = sec["test_data"] == "test split"
            lines += [f"### {sec['model']} {'x'.join(map(str, sec['input_shape']))}"
                      f"{' (trained run)' if trained else ' (random weights)'}", "",
                      "| variant | top-1 % | agrees with fp32 % | MB on disk | batch-1 ms "
                      "| batch-8 images/s | batch-1 speed-up |", "|---|---|---|---|---|---|---|"]
            for label, row in sec["rows"].items():
                cells = [fmt.format(row[key]) if row.get(key) is not None else "-"
                         for key, _, fmt in measure.COLUMNS]
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
            lines += ["", f"Agreement on {sec['test_images']} images ({sec['test_data']}).", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--render"]:  # --render RESULT.json ...: the docs section
        print(markdown([json.loads(Path(a).read_text()) for a in argv[1:]]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="*", default=list(NATIVE), choices=list(NATIVE))
    p.add_argument("--run", help="a trained run: its variants with test accuracy")
    p.add_argument("--extra", action="append", default=[], metavar="LABEL=RUN_DIR")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--calibration", type=int, default=64)
    p.add_argument("--images", type=int, default=16, help="random images for agreement")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--out", default="benchmarks/results/deployment.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    log = print
    work = Path(tempfile.mkdtemp(prefix="deployment-"))
    result = {"machine": machine("cpu"), "threads": args.threads, "seconds": args.seconds,
              "command": "python benchmarks/deployment.py " + " ".join(argv), "sections": []}
    if args.run:
        subject = command.from_run(args.run, args.calibration)
        (work / "run").mkdir()
        result["sections"].append(section(subject, args, work / "run", log))
        if args.extra:
            rows = result["sections"][-1]["rows"]
            rows.update(extra_rows(args.extra, args, work / "run"))
            measure.add_speedups(rows, "eager fp32")  # the run's eager row, not their own
    for name in args.models:
        (work / name).mkdir()
        subject = random_subject(name, max(args.images, args.calibration))
        subject.test = subject.test[:max(1, args.images // command.EVAL_BATCH)]
        result["sections"].append(section(subject, args, work / name, log))
        write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")  # partial results
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

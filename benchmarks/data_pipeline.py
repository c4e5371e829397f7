"""Benchmark: the in-memory data pipeline against ResNet-20 training, on the same machine.

The pipeline (uint8 images on the device, whole-batch pad-crop-flip and normalisation) must
serve images at least 20 times faster than ResNet-20 trains on them, so it never bounds
training. Both are measured in this one run, on the same data and batch size.

    python benchmarks/data_pipeline.py [--root ../shared/data/cifar10-subset] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from resnets import create_model
from resnets.bench.suite import machine
from resnets.data import CropFlip, InMemoryLoader, channel_stats, load_cifar, make_synthetic


def images_per_second(fn, batch: int, seconds: float) -> float:
    fn()  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        done += batch
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=None, help="CIFAR-10 folder (default: synthetic)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--out", default="benchmarks/results/data_pipeline.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    ds = (load_cifar(args.root, "cifar10", "train") if args.root
          else make_synthetic(num_samples=5000, image_size=32))
    mean, std = channel_stats(ds)
    loader = InMemoryLoader(ds, args.batch_size, augment=CropFlip(4), device=device,
                            mean=mean, std=std)
    batches = iter(loader)

    def next_batch():
        nonlocal batches
        try:
            return next(batches)
        except StopIteration:
            batches = iter(loader)
            return next(batches)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def pipeline_step():
        next_batch()
        sync()

    model = create_model("resnet20").to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x, y = next_batch()

    def train_step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()

    pipe = images_per_second(pipeline_step, args.batch_size, args.seconds)
    train = images_per_second(train_step, args.batch_size, args.seconds)
    result = {
        "benchmark": "data_pipeline", "device": str(device),
        "machine": machine(),
        "data": args.root or "synthetic 5000x3x32x32", "batch_size": args.batch_size,
        "pipeline_images_per_s": round(pipe), "resnet20_train_images_per_s": round(train),
        "ratio": round(pipe / train, 1), "target_ratio": 20,
        "command": "python benchmarks/data_pipeline.py" + (f" --root {args.root}"
                                                           if args.root else ""),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

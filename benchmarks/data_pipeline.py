"""Benchmark: the data pipelines, on the same machine.

In memory (the default): the pipeline (uint8 images on the device, whole-batch pad-crop-flip
and normalisation) must serve images at least 20 times faster than ResNet-20 trains on them,
so it never bounds training. Both are measured in this one run, on the same data and batch.

    python benchmarks/data_pipeline.py [--root ../shared/data/cifar10-subset] [--device cpu]

Files (``--files``): images/s of every way training reads image files, side by side in one
run: PIL or torchvision decoding, 0 or 2 worker processes, kept (persistent) or rebuilt
every epoch, from an image folder or from tar shards, on generated ImageNet-sized JPEGs
(500 x 375) through the ImageNet training transform (224-pixel crops); the loader is the
engine's (``data.steps.StepLoader``), timed over whole epochs, worker start-up included;
each path is timed ``--repeats`` times in turn and its best kept (a shared machine's busy
spells then hit every path alike).

    python benchmarks/data_pipeline.py --files [--images 128] [--epochs 3] [--repeats 3]
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


def write_jpegs(root: Path, count: int, classes: int = 4) -> None:
    """``count`` 500 x 375 JPEGs (smooth gradients and noise, quality 90) in train/ and a
    copy of the first class in val/ (the shard writer wants both)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, 500)[None, :, None] * np.ones((375, 1, 3))
    for i in range(count):
        for split in ("train", "val") if i < count // classes else ("train",):
            folder = root / split / f"class{i % classes}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = (ramp + rng.integers(0, 55, (375, 500, 3))).clip(0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.jpg", quality=90)


def file_pipelines(args) -> dict:
    """images/s of each file path (see the module docstring)."""
    import tempfile

    from resnets.data.folder import ImageFolderDataset
    from resnets.data.shards import TarShardDataset, folder_to_shards, shard_paths
    from resnets.data.steps import StepLoader
    from resnets.data.transforms import imagenet_train_transform

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_jpegs(root / "img", args.images)
        folder_to_shards(root / "img", root / "shards", per_shard=32)
        transform = imagenet_train_transform(224)
        for decoder in ("pil", "torchvision"):  # decoding alone, in the training process
            ds = ImageFolderDataset(root / "img", "train", decoder=decoder, check=False)
            rate = max(images_per_second(lambda: [ds[i] for i in range(len(ds))], len(ds),
                                         args.seconds) for _ in range(args.repeats))
            rows.append({"path": "decode only", "decoder": decoder, "dataset": "folder",
                         "workers": 0, "persistent": "-", "images_per_s": round(rate, 1)})
        loaders = {}
        for dataset in ("folder", "webdataset"):
            for decoder in ("pil", "torchvision"):
                for workers, persistent in ((0, False), (2, False), (2, True)):
                    ds = (ImageFolderDataset(root / "img", "train", transform=transform,
                                             decoder=decoder, check=False)
                          if dataset == "folder" else
                          TarShardDataset(shard_paths(str(root / "shards" / "train")),
                                          transform, decoder=decoder, check=False))
                    loaders[dataset, decoder, workers, persistent] = ds
        best: dict = {}
        for _ in range(args.repeats):  # round robin: a busy spell hits every path alike
            for (dataset, decoder, workers, persistent), ds in loaders.items():
                loader = StepLoader(ds, args.batch_size, seed=0, workers=workers,
                                    drop_last=True, persistent_workers=persistent)
                start, served = time.perf_counter(), 0
                for epoch in range(args.epochs):
                    loader.set_epoch(epoch)
                    served += sum(len(labels) for _, labels in loader)
                # Kept workers are shut down inside their own path's time: left to the
                # garbage collector, their shutdown (seconds) was charged to the next path.
                loader.close()
                rate = served / (time.perf_counter() - start)
                key = (dataset, decoder, workers, persistent)
                best[key] = max(best.get(key, 0.0), rate)
        for (dataset, decoder, workers, persistent), rate in best.items():
            rows.append({"path": "decode + 224 crop + batches", "decoder": decoder,
                         "dataset": dataset, "workers": workers,
                         "persistent": persistent if workers else "-",
                         "images_per_s": round(rate, 1)})
    return {"benchmark": "data_pipeline_files", "machine": machine("cpu"),
            "images": f"{args.images} JPEGs 500x375, quality 90", "epochs": args.epochs,
            "repeats": args.repeats, "best_of_repeats": True,
            "batch_size": args.batch_size, "rows": rows,
            "command": f"python benchmarks/data_pipeline.py --files --images {args.images} "
                       f"--epochs {args.epochs} --seconds {args.seconds:g} "
                       f"--repeats {args.repeats}"}


def table(result: dict) -> str:
    """The rows as a markdown table."""
    lines = ["| path | dataset | decoder | workers | persistent | images/s |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['path']} | {r['dataset']} | {r['decoder']} | {r['workers']} | "
              f"{r['persistent']} | {r['images_per_s']:,} |" for r in result["rows"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", action="store_true", help="time the file pipelines")
    parser.add_argument("--images", type=int, default=128, help="--files: JPEGs generated")
    parser.add_argument("--epochs", type=int, default=3, help="--files: epochs per path")
    parser.add_argument("--repeats", type=int, default=3, help="--files: best of this many")
    parser.add_argument("--root", default=None, help="CIFAR-10 folder (default: synthetic)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="128; --files: 32")
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--out", default=None, help="default: benchmarks/results/"
                        "data_pipeline.json (data_pipeline_files.json with --files)")
    args = parser.parse_args()
    if args.files:
        args.batch_size = args.batch_size or 32
        result = file_pipelines(args)
        out = Path(args.out or "benchmarks/results/data_pipeline_files.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(table(result))
        return
    args.out = args.out or "benchmarks/results/data_pipeline.json"
    args.batch_size = args.batch_size or 128
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

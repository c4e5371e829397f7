"""Benchmark: the pre-training image check against a full decode of the same files.

Writes ``--count`` photos-sized images (CIFAR-10 pictures scaled up to ``--size`` pixels, or
noise without ``--root``), half JPEG and half PNG, then times
:func:`resnets.data.imagecheck.check_images` with 1 and 4 threads and a full RGB decode
(``decode_image``, what training does) of every file.

    python benchmarks/image_check.py [--root ../shared/data/cifar10-subset] [--count 2000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from resnets.bench.suite import machine
from resnets.data import decode_image, load_cifar
from resnets.data.imagecheck import check_images
from resnets.files import write_text_atomic


def write_images(folder: Path, count: int, size: int, root: str | None) -> list[Path]:
    if root:
        pictures = load_cifar(root, "cifar10", "train").images[:count].permute(0, 2, 3, 1)
        pictures = pictures.numpy()
    else:
        pictures = np.random.default_rng(0).integers(0, 256, (count, 32, 32, 3), np.uint8)
    paths = []
    for index, picture in enumerate(pictures):
        image = Image.fromarray(picture).resize((size, size), Image.Resampling.BICUBIC)
        path = folder / f"{index:05d}.{'jpg' if index % 2 else 'png'}"
        image.save(path, **({"quality": 90} if index % 2 else {}))
        paths.append(path)
    return paths


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=None, help="CIFAR-10 folder (default: noise)")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=384, help="side of the images, pixels")
    parser.add_argument("--out", default="benchmarks/results/image_check.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_images(Path(tmp), args.count, args.size, args.root)
        result = {"images": len(paths), "side": args.size, "machine": machine(),
                  "check_1_thread_s": timed(lambda: check_images(paths, threads=1)),
                  "check_4_threads_s": timed(lambda: check_images(paths, threads=4)),
                  "full_decode_s": timed(lambda: [decode_image(p) for p in paths])}
    print(json.dumps(result, indent=2))
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Benchmark: where Grad-CAM and Grad-CAM++ peak on the synthetic shapes (docs/attention.md).

Per seed: a CIFAR ResNet (ResNet-20 by default, on 8,000 scenes) learns the class of the one
shape in 32x32 scenes (circle, square, triangle on textured backgrounds, data/shapes.py); on
fresh test scenes, the maps of the true class "hit" when their maximum falls inside the
shape's box (resnets.explain.localization), at every feature point. The same with the
weights re-initialised (the model-randomisation check, Adebayo et al. 2018) gives the chance
level of the maps.

    OMP_NUM_THREADS=1 python benchmarks/explain_shapes.py [--seeds 0 1 2] [--epochs 15]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from resnets.bench.suite import machine
from resnets.explain.localization import box_hits, fit, one_shape_scenes
from resnets.files import write_text_atomic
from resnets.models import create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--train", type=int, default=8000, help="training scenes")
    parser.add_argument("--test", type=int, default=400, help="test scenes")
    parser.add_argument("--depth", type=int, default=20, help="of the CIFAR ResNet")
    parser.add_argument("--size", type=int, default=32, help="image side, pixels")
    parser.add_argument("--output-stride", type=int, default=4,
                        help="of the last stage: 4 (the CIFAR ResNet's) or 2 (its last stage "
                             "dilated instead of down-sampled, a 16x16 map at 32 px)")
    parser.add_argument("--out", default="benchmarks/results/explain_shapes.json")
    parser.add_argument("--save", default="", help="save each trained model as SAVE-seedN.pt")
    args = parser.parse_args()
    test = one_shape_scenes(args.test, args.size, seed=10_000)  # the same for every seed
    runs = []
    def network() -> torch.nn.Module:
        return create_model("cifar_resnet", depth=args.depth, num_classes=3,
                            output_stride=args.output_stride)

    for seed in args.seeds:
        torch.manual_seed(seed)
        start = time.time()
        model = network()
        fit(model, *one_shape_scenes(args.train, args.size, seed=seed)[:2], args.epochs,
            seed=seed, log=lambda epoch, acc: print(f"seed {seed} epoch {epoch + 1}: train "
                                                    f"accuracy {acc:.3f}", flush=True))
        if args.save:
            torch.save(model.state_dict(), f"{args.save}-seed{seed}.pt")
        torch.manual_seed(seed + 1000)
        randomised = network().eval()
        stages = {}
        for stage in range(len(model.feature_info)):
            name = model.feature_info[stage]["module"]
            stages[name] = {"trained": box_hits(model, *test, stage=stage),
                            "randomised": box_hits(randomised, *test, stage=stage)}
        runs.append({"seed": seed, "stages": stages, "seconds": round(time.time() - start, 1)})
        print(json.dumps(runs[-1]), flush=True)
        write_text_atomic(args.out, json.dumps({"settings": vars(args), "machine": machine(),
                                                "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()

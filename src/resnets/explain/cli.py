"""``resnets explain``: Grad-CAM and Grad-CAM++ heat maps of images, written as overlays.

    resnets explain --checkpoint runs/my-run cat.png dog.png --out maps
    resnets explain --model resnet50 --weights imagenet cat.png --top-k 3 --stage layer3

For each image and each of its ``--top-k`` most likely classes (or the ``--class`` given),
at the feature point ``--stage`` (default the last), it writes OUT/<image>_<rank>_<class>_
<method>.png (the map over the model's input) and .npy (the raw map at the stage's
resolution, float32, >= 0). Every argument, image path, stage and class is checked before the
weights load or a map is computed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import ResnetsError
from ..files import atomic_path, check_writable
from ..limits import DEVICE, Parser, arg, integer
from .cam import METHODS, class_maps, upsample

OVERLAY_ALPHA = 0.5  # weight of the heat map over the image


def build_parser() -> Parser:
    parser = Parser(prog="resnets explain", description="Grad-CAM and Grad-CAM++ heat maps "
                    "of images for a run or a registry model, as PNG overlays and .npy maps")
    parser.add_argument("images", nargs="+", help="image files")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", metavar="RUN", help="a run directory or its .pt")
    source.add_argument("--model", metavar="NAME", help="a registry image model")
    parser.add_argument("--weights", default="imagenet", help="with --model: imagenet | "
                        "imagenet:v2 | none (random weights)")
    parser.add_argument("--out", default="explain", help="output folder (default: explain)")
    parser.add_argument("--stage", default=None, help="feature point: an index into the "
                        "model's feature_info (negative from the end) or its module name, "
                        "e.g. layer3 (default: the last)")
    parser.add_argument("--top-k", type=arg(integer(1, 100)), default=1,
                        help="explain the k most likely classes of each image (default 1)")
    parser.add_argument("--class", dest="class_spec", metavar="CLASS", default=None,
                        help="explain this class (index or name) instead of the top ones")
    parser.add_argument("--method", choices=(*METHODS, "both"), default="both")
    parser.add_argument("--device", default="cpu", type=arg(DEVICE),
                        help="auto | cpu | cuda | cuda:N | mps (default cpu)")
    return parser


def main(argv: list[str]) -> int:
    from ..train.device import resolve_device
    from .source import check_images, from_checkpoint, from_registry, plan_registry

    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    if args.class_spec is not None and args.top_k != 1:
        raise ResnetsError("give --class or --top-k, not both")
    if args.checkpoint:  # the run says what the model is: its stage and class checked here
        if args.weights != "imagenet":
            raise ResnetsError("--weights applies to --model; a run brings its own weights")
        source, stage, class_index = from_checkpoint(args.checkpoint, device, args.stage,
                                                     args.class_spec)
        classes = source.classes
    else:  # checked on a skeleton; the weights load once the images and --out are
        plan = plan_registry(args.model, args.weights, args.stage, args.class_spec)
        stage, class_index, classes = plan.stage, plan.class_index, plan.classes
    if args.top_k > len(classes):
        raise ResnetsError(f"--top-k {args.top_k} is more than the model's "
                           f"{len(classes)} classes")
    check_images(args.images)
    out = check_writable(args.out)
    if not args.checkpoint:
        source = from_registry(plan, device)
    methods = METHODS if args.method == "both" else (args.method,)
    point = source.model.feature_info[stage]["module"]
    written = 0
    for path in args.images:
        x = source.load(path).to(device)
        for rank in range(args.top_k):
            chosen = None if class_index is None else torch.tensor([class_index], device=device)
            maps = class_maps(source.model, x, stage, classes=chosen, rank=rank)
            label = int(maps.classes[0])
            prob = float(maps.logits.float().softmax(1)[0, label])
            for method in methods:
                raw = maps.gradcam if method == "gradcam" else maps.gradcampp
                stem = f"{Path(path).stem}_{rank + 1}_{slug(source.classes[label])}_" \
                       f"{method.replace('++', 'pp')}"
                write_map(out / stem, raw[0], x[0], source.mean, source.std)
                written += 1
            print(f"{path}: #{rank + 1} {source.classes[label]} (p={prob:.3f}) at {point}")
    print(f"{written} maps of {source.description} in {out}")
    return 0


def slug(name: str) -> str:
    """A class name as a file-name part: letters, digits, '-' and '_'."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-")[:40] or "class"


def write_map(stem: Path, raw: torch.Tensor, x: torch.Tensor, mean: Sequence[float],
              std: Sequence[float]) -> None:
    """``stem``.npy: the raw map; ``stem``.png: it normalised to [0, 1], upsampled and
    blended (colour map "jet") over the input it explains."""
    from matplotlib import colormaps
    from PIL import Image

    with atomic_path(stem.with_suffix(".npy")) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, raw.cpu().numpy().astype(np.float32))
    heat = upsample(raw[None].float(), tuple(x.shape[-2:]))[0].cpu()
    heat = heat / heat.max() if heat.max() > 0 else heat
    std_t = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)
    mean_t = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    image = (x.detach().float().cpu() * std_t + mean_t).clamp(0, 1)
    image = image.expand(3, -1, -1).permute(1, 2, 0).numpy()  # grey inputs shown as RGB
    colour = colormaps["jet"](heat.numpy())[..., :3]
    blended = (1 - OVERLAY_ALPHA) * image + OVERLAY_ALPHA * colour
    with atomic_path(stem.with_suffix(".png")) as tmp:
        Image.fromarray((blended * 255).round().astype(np.uint8)).save(tmp, format="PNG")

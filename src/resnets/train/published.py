"""Published ImageNet weights on the user's images, with the weights' own eval transform.

    resnets evaluate --model resnet50 --weights imagenet:v2 --root VAL_DIR
    resnets predict --model resnet50 --weights imagenet photo.jpg

``VAL_DIR`` is in ImageNet's validation layout (:mod:`resnets.data.imagenet`: one folder per
class, named by wnid or class name, a few classes or all 1,000). The model's 1,000 outputs
are scored against the folders' ImageNet indices: top-1/top-5 over all 1,000 classes, and the
accuracy of each class present. ``resnets embed``, ``probe`` and ``attack`` load the same
weights through :func:`published_config` and :func:`load_published`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ..data.folder import decode_image
from ..data.imagenet import ImageNetFolder, imagenet_folders, imagenet_wnids
from ..data.published import create_transform, resolve_data_config
from ..errors import ResnetsError
from ..files import check_writable, write_text_atomic
from ..models.pretrained import imagenet_classes, parse_weights_spec
from ..models.registry import create_pretrained, model_info

DEFAULT_OUT = "runs"  # the parent of a new report folder when --out is not given
PLOTTED_CLASSES = 100  # more classes than this get no confusion PNG (one would be ~5k px wide)


def published_config(model_name: str, weights: str, option: str = "--weights"
                     ) -> dict[str, Any]:
    """The data config of ``model_name``'s published ``weights`` (imagenet, imagenet:v1,
    imagenet:v2); an unknown model, another spec or a model without them raises, before any
    file is read."""
    model_info(model_name)
    tag = parse_weights_spec(weights, option)
    if tag is None:
        raise ResnetsError(f"{option} {weights!r}: published weights are 'imagenet' or "
                           "'imagenet:v1' / 'imagenet:v2'")
    return resolve_data_config(model_name, f"imagenet:{tag}")


def load_published(config: dict[str, Any], device: torch.device,
                   num_classes: int | None = None) -> nn.Module:
    """The model of ``config`` with its published weights, in eval mode on ``device``
    (``num_classes=0``: without the classifier)."""
    model = create_pretrained(config["architecture"], num_classes=num_classes,
                              weights=config["tag"])
    return model.to(device).eval()


def describe(config: dict[str, Any]) -> str:
    """``resnet50 (imagenet:v2)``: what a report says was evaluated."""
    return f"{config['architecture']} (imagenet:{config['tag']})"


def check_report_folder(out: str | None, root: str | os.PathLike) -> Path | None:
    """``out``, checked writable and refused inside the image folder (reports never land
    among the inputs); None without ``out``, once the parent of a new report folder has been
    checked writable (:func:`new_report_folder` makes it, after the weights are read)."""
    if not out:
        check_writable(DEFAULT_OUT)
        return None
    folder, images = Path(out).expanduser().resolve(), Path(root).expanduser().resolve()
    if folder == images or images in folder.parents:
        raise ResnetsError(f"--out {out!r} is inside the image folder {str(root)!r}; "
                           "write the report elsewhere")
    if folder.exists() and not folder.is_dir():
        raise ResnetsError(f"--out {out!r} is a file; name a folder")
    return check_writable(folder)


def new_report_folder(config: dict[str, Any], command: str) -> Path:
    """A new folder ``runs/<command>-<model>-<tag>-<time>`` (``-2`` ... if taken)."""
    from .rundir import create_run_dir, timestamped

    name = timestamped(f"{command}-{config['architecture']}-{config['tag']}")
    return create_run_dir(DEFAULT_OUT, "", name, resumable=False)


def folder_loader(config: dict[str, Any], root: str | os.PathLike, batch_size: int,
                  workers: int) -> tuple[ImageNetFolder, torch.utils.data.DataLoader]:
    """The folder's images through the weights' eval transform, with ImageNet labels."""
    dataset = ImageNetFolder(root, create_transform(config))
    return dataset, torch.utils.data.DataLoader(dataset, batch_size=batch_size,
                                                num_workers=workers)


def fold_confusion(cm: torch.Tensor, present: Sequence[int]) -> torch.Tensor:
    """The 1000 x 1000 confusion matrix restricted to the ``present`` classes, with one more
    column (and an empty row) for every prediction of a class that has no folder."""
    index = torch.tensor(list(present))
    rows = cm[index]
    folded = torch.zeros(len(present) + 1, len(present) + 1, dtype=cm.dtype)
    folded[:-1, :-1] = rows[:, index]
    folded[:-1, -1] = rows.sum(1) - folded[:-1, :-1].sum(1)
    return folded


def evaluate_published(model_name: str, weights: str, root: str | os.PathLike,
                       out_dir: str | None = None, batch_size: int = 32, workers: int = 2,
                       device: torch.device | str = "auto") -> dict[str, Any]:
    """Top-1/top-5 accuracy, loss and per-class accuracy of published weights on a folder
    in ImageNet's layout; writes ``evaluation.json`` and, for up to PLOTTED_CLASSES classes,
    ``confusion.png`` to the report folder. Every input is checked before the weights are
    read."""
    from .evaluate import evaluate
    from .inference import plot_confusion
    from .metrics import per_class_accuracy
    from .setup import resolve_device

    config = published_config(model_name, weights)
    imagenet_folders(root)  # the folder names, before a report folder is made
    device = resolve_device(device) if isinstance(device, str) else device
    out = check_report_folder(out_dir, root)
    dataset, loader = folder_loader(config, root, batch_size, workers)
    model = load_published(config, device)
    out = out or new_report_folder(config, "evaluate")
    result = evaluate(model, loader, dataset.num_classes, device, show_progress=True)
    present = dataset.present
    folded = fold_confusion(result["confusion"], present)
    names = [imagenet_classes()[i] for i in present]
    folder_of = {index: folder for folder, index in dataset.folder_index.items()}
    accuracy = per_class_accuracy(folded)[:-1].tolist()
    png = (plot_confusion(folded, [*names, "(no folder)"], out / "confusion.png")
           if len(present) <= PLOTTED_CLASSES else None)
    report = {
        "model": config["architecture"], "weights": f"imagenet:{config['tag']}",
        "root": str(root), "images": len(dataset), "loss": result["loss"],
        "top1_accuracy": 1 - result["top1_error"], "top5_accuracy": 1 - result["top5_error"],
        "top1_error": result["top1_error"], "top5_error": result["top5_error"],
        "published_top1": config["top1"] / 100, "published_top5": config["top5"] / 100,
        "per_class_accuracy": dict(zip(names, accuracy)),
        "classes": [{"index": i, "wnid": imagenet_wnids()[i], "name": name,
                     "folder": folder_of[i], "images": int(row.sum())}
                    for i, name, row in zip(present, names, folded)],
        "confusion": folded.tolist(), "confusion_png": png and str(png)}
    report_path = write_text_atomic(out / "evaluation.json", json.dumps(report, indent=2) + "\n")
    report["report_path"] = str(report_path)
    return report


@torch.no_grad()
def predict_published(model_name: str, weights: str, images: Sequence[str], topk: int = 5,
                      device: torch.device | str = "auto"
                      ) -> list[tuple[str, list[tuple[str, float]]]]:
    """For each image file, the ``topk`` (ImageNet class name, probability) pairs."""
    from .inference import top_classes
    from .setup import resolve_device

    config = published_config(model_name, weights)
    transform = create_transform(config)
    inputs = [transform(decode_image(path)).unsqueeze(0) for path in images]  # checked first
    device = resolve_device(device) if isinstance(device, str) else device
    model = load_published(config, device)
    return [(path, top_classes(model, x.to(device), imagenet_classes(), topk))
            for path, x in zip(images, inputs)]

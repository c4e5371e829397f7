"""Read COCO splits, evaluate and apply a trained detector: ``resnets detect evaluate|predict``
(training is :mod:`resnets.detection.task` on the engine)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from torchvision.transforms.v2.functional import pil_to_tensor

from ..data.folder import decode_image
from ..errors import DataError
from ..files import atomic_path, write_text_atomic
from ..train.device import resolve_device
from ..train.task_checkpoint import build_from_checkpoint, read_task_checkpoint
from .coco import CocoSet, DetectionDataset, read_coco
from .draw import draw_detections
from .evaluate import detect, evaluate_detector, to_results
from .models import DetectorConfig, build_detector
from ..data.outputs import plan_outputs

DETECTIONS_FILE = "detections.json"  # predict's results, beside the drawn images


def load_split(annotations: str | os.PathLike, images: str | os.PathLike | None = None,
               skip_bad: bool = False) -> tuple[CocoSet, Path]:
    """A checked COCO split; images default to the ``images`` folder beside the JSON."""
    image_dir = image_folder(annotations, images)
    coco = read_coco(annotations, image_dir, skip_bad)
    if coco.skipped:
        print(f"{annotations}: skipped " + ", ".join(f"{n} ({reason})" for reason, n
                                                      in sorted(coco.skipped.items())))
    if not coco.images:
        raise DataError(f"{annotations}: no usable image; check the image folder {image_dir}")
    return coco, image_dir


def image_folder(annotations: str | os.PathLike, images: str | os.PathLike | None) -> Path:
    """The folder of a split's images: ``images``, or ``images/`` beside the JSON."""
    return Path(images) if images else Path(annotations).parent / "images"


def load_detector(path: str | os.PathLike, device: torch.device
                  ) -> tuple[nn.Module, dict[str, Any]]:
    """The trained detector of a run directory or checkpoint, and the checkpoint's metadata."""
    state = read_task_checkpoint(path, "detection", "detector", DetectorConfig)
    cfg = DetectorConfig(**{**state["detector"], "weights": ""})  # weights come from state
    model = build_from_checkpoint(build_detector, cfg, state, path)
    return model.to(device).eval(), state


def evaluate_run(path: str, annotations: str | None = None, images: str | None = None,
                 device: str = "auto", skip_bad: bool = False) -> dict[str, float]:
    """COCO mAP of a trained detector on ``annotations`` (default: its validation split)."""
    dev = resolve_device(device)
    model, meta = load_detector(path, dev)
    if annotations is None:
        annotations, images = meta["data"]["val"], images or meta["data"]["val_images"]
    coco, image_dir = load_split(annotations, images, skip_bad)
    if coco.category_ids != list(meta["category_ids"]):
        raise DataError(f"{annotations} declares categories {coco.category_ids}; the model "
                        f"was trained on {list(meta['category_ids'])}")
    return evaluate_detector(model, DetectionDataset(coco, image_dir), dev)


def predict_images(path: str, images: list[str], out_dir: str, threshold: float = 0.5,
                   device: str = "auto") -> list[Path]:
    """Draw the detections above ``threshold`` on each image into ``out_dir``; write
    ``out_dir/detections.json`` (COCO results with file names and class names). Returns the
    files written (see :func:`~resnets.data.outputs.plan_outputs` for their names)."""
    if not 0 <= threshold <= 1:
        raise DataError(f"--threshold is a score in [0, 1], got {threshold}")
    out, plans = plan_outputs(images, out_dir, [".png"], [DETECTIONS_FILE])
    dev = resolve_device(device)
    model, meta = load_detector(path, dev)
    entries, written = [], []
    for file, (drawn_path,) in zip(images, plans):
        image = pil_to_tensor(decode_image(file))
        output = detect(model, [image.float() / 255], dev)[0]
        keep = output["scores"] >= threshold
        output = {k: v[keep] for k, v in output.items()}
        drawn = draw_detections(image, output, meta["classes"])
        with atomic_path(drawn_path) as tmp:
            Image.fromarray(drawn.permute(1, 2, 0).numpy()).save(tmp, format="PNG")
        written.append(drawn_path)
        for entry in to_results(output, str(file), list(meta["category_ids"])):
            label = list(meta["category_ids"]).index(entry["category_id"])
            entries.append({"file_name": entry.pop("image_id"),
                            "category": meta["classes"][label], **entry})
    written.append(write_text_atomic(out / DETECTIONS_FILE, json.dumps(entries, indent=2)))
    return written

"""Train, evaluate and apply a detector: the functions behind ``resnets detect``."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from torchvision.transforms.v2.functional import pil_to_tensor

from ..data.folder import decode_image
from ..errors import CheckpointError, DataError
from ..files import atomic_path, write_text_atomic
from ..readback import check_keys, field_kinds
from ..train.checkpoint import CheckpointManager, load_checkpoint
from ..train.metadata import check_classes, check_fits
from ..train.setup import resolve_device
from .coco import CocoSet, DetectionDataset, collate, read_coco
from .draw import draw_detections
from .evaluate import detect, evaluate_detector, to_results
from .batches import StepLoader
from .loop import LoopConfig, fit, make_run_dir, train_command
from .models import DetectorConfig, build_detector
from ..data.outputs import plan_outputs
from .resume import MODEL_KEYS, Resume, load_resume

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


def run_data(train: str, val: str, train_images: str | None, val_images: str | None,
             skip_bad: bool) -> dict[str, Any]:
    """The ``data`` of a run's config.json: where its data is, as absolute paths."""
    return {"train": os.path.abspath(train),
            "train_images": os.path.abspath(image_folder(train, train_images)),
            "val": os.path.abspath(val),
            "val_images": os.path.abspath(image_folder(val, val_images)), "skip_bad": skip_bad}


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _detection_loss(model: nn.Module, batch: Any, device: torch.device
                    ) -> dict[str, torch.Tensor]:
    images, targets = batch
    return model([image.to(device) for image in images],
                 [{k: v.to(device) for k, v in t.items()} for t in targets])


def train_detector(train: str, val: str, detector: DetectorConfig, loop: LoopConfig,
                   train_images: str | None = None, val_images: str | None = None,
                   skip_bad: bool = False, resume: Resume | None = None) -> dict[str, Any]:
    """Train on the COCO file ``train``, report COCO mAP on ``val``; returns the summary.

    ``resume`` continues that run (see :func:`resume_detector`) instead of starting one.
    """
    train_coco, train_dir = load_split(train, train_images, skip_bad)
    val_coco, val_dir = load_split(val, val_images, skip_bad)
    if val_coco.category_ids != train_coco.category_ids:
        raise DataError(f"{val} declares categories {val_coco.category_ids} but {train} "
                        f"declares {train_coco.category_ids}; use the same category list")
    torch.manual_seed(loop.seed)
    # A resumed run's weights come from its checkpoint, not from --weights again.
    model = build_detector(replace(detector, weights="") if resume else detector,
                           len(train_coco.category_ids))
    run_dir = resume.run_dir if resume else make_run_dir(
        loop, f"detect-{detector.arch}-{detector.backbone}")
    loader = StepLoader(DetectionDataset(train_coco, train_dir, hflip=True), loop.batch_size,
                        loop.seed, loop.workers, collate_fn=collate)
    val_set = DetectionDataset(val_coco, val_dir)
    meta = {"task": "detection", "detector": asdict(detector),
            "classes": train_coco.class_names, "category_ids": train_coco.category_ids,
            "data": run_data(train, val, train_dir, val_dir, skip_bad)}
    return fit(model, _detection_loss, loader, loop, run_dir,
               lambda m: evaluate_detector(m, val_set, _model_device(m), loop.batch_size),
               meta, resume.state if resume else None)


def resume_detector(run_dir: str, **changes: Any) -> dict[str, Any]:
    """Continue the detection run in ``run_dir`` from its newest verified checkpoint, with its
    own data and settings; ``changes``: steps, device, workers (None = as before)."""
    resume = load_resume(run_dir, "detection", DetectorConfig, **changes)
    config, data = resume.config, resume.config["data"]
    return train_detector(data["train"], data["val"], DetectorConfig(**config["detector"]),
                          resume.loop, data["train_images"], data["val_images"],
                          data["skip_bad"], resume)


def read_task_checkpoint(path: str | os.PathLike, task: str,
                         model_config: type) -> dict[str, Any]:
    """The newest verified checkpoint of a run directory, or a checkpoint file, of ``task``
    whose model settings are a ``model_config`` (DetectorConfig, ...)."""
    path = Path(path)
    state = (CheckpointManager(path).load_latest() if path.is_dir()
             else load_checkpoint(path))
    if state is None:
        raise CheckpointError(f"{str(path)!r} holds no checkpoint; train first")
    if state.get("task") != task:
        raise CheckpointError(f"{str(path)!r} is not a {task} checkpoint (task "
                              f"{state.get('task')!r}); pass a run of `{train_command(task)}`")
    where, key = f"checkpoint {str(path)!r}", MODEL_KEYS[task]
    classes = check_classes(state.get("classes"), where)
    check_keys(state.get(key), field_kinds(model_config), f"{where}: {key!r}")
    ids = state.get("category_ids", list(range(len(classes))))
    if not isinstance(ids, list) or len(ids) != len(classes) or len(set(ids)) != len(ids) \
            or not all(type(i) is int for i in ids):
        raise CheckpointError(f"{where}: category_ids must be {len(classes)} distinct integers, "
                              "one per class; the file is damaged or was not written by "
                              "resnets")
    return state


def build_from_checkpoint(build: Any, cfg: Any, state: dict[str, Any],
                          path: str | os.PathLike) -> nn.Module:
    """``build(cfg, classes)`` with the checkpoint's weights; their names and shapes are
    compared first with a model built on the meta device, so a damaged file allocates
    nothing."""
    classes = len(state["classes"])
    with torch.device("meta"):
        skeleton = build(cfg, classes)
    check_fits(skeleton, state["model"], f"checkpoint {str(path)!r}", classes)
    model = build(cfg, classes)
    model.load_state_dict(state.pop("model"))
    return model


def load_detector(path: str | os.PathLike, device: torch.device
                  ) -> tuple[nn.Module, dict[str, Any]]:
    """The trained detector of a run directory or checkpoint, and the checkpoint's metadata."""
    state = read_task_checkpoint(path, "detection", DetectorConfig)
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

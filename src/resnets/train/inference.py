"""Using a trained model: evaluate a checkpoint on its data, predict the class of image files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from .. import data as D
from ..errors import CheckpointError, ResnetsError
from ..files import check_writable, write_text_atomic
from .calibration_report import calibration_and_class_scores, plot_reliability
from .checkpoint import CheckpointManager, load_checkpoint
from .config import TrainConfig, apply_overrides, check_settings, from_dict
from .setup import build_model, resolve_device
from .evaluate import evaluate
from .logger import save_figure
from .metadata import check_fits, check_trained_model
from .metrics import per_class_accuracy
from .pipeline import build_pipeline

REQUIRED_KEYS = ("model", "model_name", "classes", "in_chans", "image_size", "mean", "std",
                 "config")


def read_trained_state(path: str | os.PathLike) -> dict:
    """The checkpoint state of a run directory (its last.pt) or a ``.pt``, of any task."""
    path = Path(path)
    if path.is_dir():
        state = CheckpointManager(path).load_latest()
        if state is None:
            raise CheckpointError(f"{str(path)!r} holds no checkpoint (last.pt)")
    elif path.is_file():
        state = load_checkpoint(path)
    else:
        raise CheckpointError(f"{str(path)!r} is neither a run directory nor a checkpoint file")
    return state


def load_trained(path: str | os.PathLike, device: torch.device | None = None
                 ) -> tuple[torch.nn.Module, dict, TrainConfig]:
    """(model in eval mode, checkpoint state, its config) from a run directory or a ``.pt``."""
    path = Path(path)
    state = read_trained_state(path)
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{str(path)!r} is not a training checkpoint of resnets "
                              f"(missing {', '.join(missing)}); for bare weights use "
                              "resnets.load_weights")
    where = f"checkpoint {str(path)!r}"
    check_trained_model(state, where)
    try:  # evaluate uses its batch sizes and data settings; its own device, not the run's
        cfg = from_dict(state["config"], f"the config of {where}")
        check_settings(cfg)
    except ResnetsError as exc:
        raise CheckpointError(f"{where}: its config is impossible ({exc}); the file is "
                              "damaged") from None
    if cfg.model.name != state["model_name"]:
        raise CheckpointError(f"{where}: model_name {state['model_name']!r} is not "
                              f"its config's model.name {cfg.model.name!r}; the file is damaged")
    classes, in_chans = len(state["classes"]), state["in_chans"]
    device = device or resolve_device("auto")
    if cfg.quant.qat:  # an exported graph: built for real (on the meta device it cannot be)
        from .qat import qat_model

        model = qat_model(build_model(cfg, classes, in_chans, device, load_pretrained=False),
                          cfg, in_chans, state["image_size"])
        check_fits(model, state["model"], where, classes)
        model.load_state_dict(state["model"])
        return model.eval(), state, cfg
    with torch.device("meta"):  # shapes only: the metadata is checked before any allocation
        skeleton = build_model(cfg, classes, in_chans, torch.device("meta"),
                               load_pretrained=False)
    check_fits(skeleton, state["model"], where, classes)
    model = build_model(cfg, classes, in_chans, device,
                        load_pretrained=False)  # the checkpoint holds every weight
    model.load_state_dict(state["model"])
    return model.eval(), state, cfg


def evaluate_checkpoint(path: str | os.PathLike, split: str = "test", root: str | None = None,
                        ten_crop: bool = False, out_dir: str | None = None,
                        noise: float | None = None) -> dict:
    """Top-1/top-5 error, per-class accuracy, precision, recall and F1, the calibration error
    and PNGs of the confusion matrix and the reliability diagram for one split. A gated
    model's report adds its gates' execution and MACs, on the split as it is and with
    Gaussian noise of std ``noise`` (default :data:`~resnets.train.gates.NOISE`)."""
    from .gates import check_noise, gates_report

    device = resolve_device("auto")
    model, state, cfg = load_trained(path, device)
    noise = check_noise(model, noise)
    out = Path(out_dir) if out_dir else (Path(path) if Path(path).is_dir() else Path(path).parent)
    check_writable(out)  # a report that cannot be written fails before the evaluation
    if root:
        cfg = apply_overrides(cfg, {"data.root": root})
    if ten_crop and cfg.data.dataset != "folder":
        raise ResnetsError("10-crop testing is for image folders; drop --ten-crop")
    if ten_crop:
        test = D.ImageFolderDataset(cfg.data.root, "val", transform=D.imagenet_eval_transform(
            cfg.data.eval_size or cfg.data.image_size, cfg.data.eval_resize or None,
            ten_crop=True))  # the run's evaluation sizes, as its test split was evaluated
        batches = torch.utils.data.DataLoader(test, batch_size=max(cfg.eval_batch_size // 10, 1),
                                              num_workers=cfg.data.workers)
    else:
        pipe = build_pipeline(cfg, device)
        if split == "val" and pipe.val is None:
            raise ResnetsError("this run has no validation split (data.val_size=0); "
                               "use --split test")
        batches = pipe.val if split == "val" else pipe.test
    classes = list(state["classes"])
    # The run's own test-time flip; ten crops hold their mirrors already.
    flip = cfg.data.eval_flip and not ten_crop
    result = evaluate(model, batches, len(classes), device, cfg.precision, ten_crop=ten_crop,
                      show_progress=True, flip=flip)
    cm = result["confusion"]
    per_class = dict(zip(classes, per_class_accuracy(cm).tolist()))
    png = plot_confusion(cm, classes, out / f"confusion-{split}.png")
    report = {"split": split, "images": int(cm.sum()), "loss": result["loss"],
              "top1_error": result["top1_error"], "top5_error": result["top5_error"],
              "per_class_accuracy": per_class, "confusion": cm.tolist(),
              "checkpoint": str(path), "step": state.get("step"), "ten_crop": ten_crop,
              "eval_flip": flip, "confusion_png": str(png),
              **calibration_and_class_scores(result, classes),
              "reliability_png": str(plot_reliability(result["calibration"],
                                                      out / f"reliability-{split}.png"))}
    if noise is not None and not ten_crop:  # gates are measured on single views only
        report["gates"] = gates_report(model, batches, device, state, noise)
    report_path = out / f"evaluation-{split}.json"
    write_text_atomic(report_path, json.dumps(report, indent=2) + "\n")
    report["report_path"] = str(report_path)
    return report


def plot_confusion(cm: torch.Tensor, classes: Sequence[str], path: Path) -> Path:
    """Row-normalised confusion matrix (true class down, predicted across) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = cm.double() / cm.sum(1, keepdim=True).clamp_min(1)
    size = max(4.0, 0.45 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
    if len(classes) <= 30:
        ax.set_xticks(range(len(classes)), classes, rotation=90)
        ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel="predicted class", ylabel="true class", title="confusion (row-normalised)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return save_figure(fig, path)


def preprocess(path: str | os.PathLike, state: dict, cfg: TrainConfig) -> torch.Tensor:
    """One image file as the model's normalised 1 x C x H x W input."""
    image = D.decode_image(path)
    if cfg.data.dataset in ("folder", "webdataset"):  # ImageNet preprocessing, as trained
        return D.imagenet_eval_transform(state["image_size"])(image).unsqueeze(0)
    if state["in_chans"] == 1:
        image = image.convert("L")
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    x = pixels.view(image.height, image.width, -1).permute(2, 0, 1).float().unsqueeze(0)
    side = state["image_size"]
    x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False) / 255.0
    return D.normalize(x, state["mean"], state["std"])


@torch.no_grad()
def predict_files(path: str | os.PathLike, images: Sequence[str], topk: int = 5
                  ) -> list[tuple[str, list[tuple[str, float]]]]:
    """For each image file, the ``topk`` (class name, probability) pairs, most likely first."""
    device = resolve_device("auto")
    model, state, cfg = load_trained(path, device)
    classes = list(state["classes"])
    inputs = [preprocess(p, state, cfg) for p in images]  # all files checked before any work
    return [(name, top_classes(model, x.to(device), classes, topk))
            for name, x in zip(images, inputs)]


def top_classes(model: torch.nn.Module, x: torch.Tensor, classes: Sequence[str],
                topk: int) -> list[tuple[str, float]]:
    """The ``topk`` (class name, probability) pairs of the 1 x C x H x W input ``x``."""
    probs = model(x).float().softmax(1)[0].cpu()
    values, indices = probs.topk(min(topk, len(classes)))
    return [(classes[i], float(v)) for v, i in zip(values, indices)]

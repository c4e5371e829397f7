"""``resnets verify``: the verification and identification protocols on an LFW-format folder.

The embedding of an image is a metric-learning run's unit-length output, or the pooled
(pre-logit) features, normalised, of a classification run or of a registry model with
published or other weights (``--model NAME --weights ...``); pairs are compared by cosine
similarity. The report folder gets ``verify.json`` (10-fold accuracy and its thresholds, TAR
at FAR 1e-3 and 1e-4, rank-1 and mAP), ``roc.csv`` and ``roc.png``, each written atomically.

Identification: of every identity the pairs name, the first image (by file name) is its
gallery image and the others are probes; an identity with one image is a gallery distractor.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..errors import CheckpointError
from ..files import check_writable, write_text_atomic
from ..models.registry import check_modality
from ..train.config import from_dict
from ..train.device import resolve_device
from ..train.embedder import FEATURES_OF_IMAGES, from_weights
from ..train.finetune import check_pretrained
from ..train.inference import load_trained, preprocess, read_trained_state
from ..train.logger import pyplot, save_figure
from ..train.metadata import check_fits
from .config import MetricConfig
from .lfw import IMAGE_SUFFIXES, Pair, read_pairs
from .protocol import identification, kfold_accuracy, roc_curve, tar_at_far
from .task import MetricData, MetricTask

FARS = (1e-3, 1e-4)


Embed = Callable[[torch.Tensor], torch.Tensor]  # images -> unit-length embeddings
Load = Callable[[Path], torch.Tensor]  # image file -> 1 x C x H x W input


def embedder(checkpoint: str, device: torch.device) -> tuple[Embed, Load]:
    """(images -> unit embeddings, image file -> input) of a metric or classification run."""
    state = read_trained_state(checkpoint)
    if state.get("task") != "metric":  # a classifier: its pooled features
        model, state, cfg = load_trained(checkpoint, device)
        return pooled_unit_features(model), lambda f: preprocess(f, state, cfg)
    where = f"checkpoint {str(checkpoint)!r}"
    cfg = from_dict(state.get("config"), where, MetricConfig)
    missing = [k for k in ("model", "classes", "in_chans", "image_size", "mean", "std")
               if k not in state]
    if missing:
        raise CheckpointError(f"{where} lacks {', '.join(missing)}; it was not written by "
                              "resnets metric train")
    data = MetricData(None, classes=list(state["classes"]), in_chans=state["in_chans"])
    model = MetricTask().build_model(cfg, data, device, load_pretrained=False)
    check_fits(model, state["model"], where, classes=0)
    model.load_state_dict(state["model"])
    return model.eval(), lambda f: preprocess(f, state, cfg)


def pooled_unit_features(model: torch.nn.Module) -> Embed:
    """A classifier's pooled (pre-logit) features, normalised."""
    return lambda x: F.normalize(model.forward_head(model.forward_features(x),
                                                    pre_logits=True).float())


def identity_images(pairs: list[Pair]) -> dict[str, list[Path]]:
    """Every image of each identity that the pairs name, sorted by file name."""
    folders = sorted({p.first.parent for p in pairs} | {p.second.parent for p in pairs})
    return {folder.name: sorted(f for f in folder.iterdir()
                                if f.suffix.lower() in IMAGE_SUFFIXES) for folder in folders}


def verify(root: str, pairs_file: str | None, checkpoint: str | None, out: str | None,
           batch_size: int = 256, device_name: str = "auto", model_name: str | None = None,
           weights: str = "imagenet") -> dict[str, Any]:
    """Run the protocols on the embeddings of a run (``checkpoint``), or of a registry model
    ``model_name`` with ``weights`` (published, a file or run, "none"); returns the report
    (also written to the report folder)."""
    device = resolve_device(device_name)
    pairs = read_pairs(root, pairs_file)  # every image checked before any model is read
    name = Path(root).resolve().name
    if model_name:
        weights = "" if weights.lower() == "none" else weights
        check_modality("--model", model_name, "image", FEATURES_OF_IMAGES)
        check_pretrained(weights, model_name)
        folder = check_writable(out or Path("runs") / f"verify-{model_name}-{name}")
        backbone = from_weights(model_name, weights, device)
        embed, load = pooled_unit_features(backbone.model), backbone.load
    else:
        if not checkpoint or not Path(checkpoint).exists():
            raise CheckpointError(f"{checkpoint!r} is neither a run directory nor a "
                                  "checkpoint file")
        run = Path(checkpoint) if Path(checkpoint).is_dir() else Path(checkpoint).parent
        folder = check_writable(out or run / f"verify-{name}")
        embed, load = embedder(checkpoint, device)
    identities = identity_images(pairs)
    files = sorted({f for images in identities.values() for f in images})
    index = {f: i for i, f in enumerate(files)}
    embeddings = []
    with torch.no_grad():
        for start in range(0, len(files), batch_size):
            batch = torch.cat([load(f) for f in files[start:start + batch_size]])
            embeddings.append(embed(batch.to(device)).float().cpu())
    emb = torch.cat(embeddings)
    first = torch.tensor([index[p.first] for p in pairs])
    second = torch.tensor([index[p.second] for p in pairs])
    scores = (emb[first].double() * emb[second].double()).sum(1)
    same = torch.tensor([p.same for p in pairs])
    folds = kfold_accuracy(scores, same, torch.tensor([p.fold for p in pairs]))
    report = {"root": str(root), "checkpoint": str(checkpoint) if checkpoint else None,
              "model": model_name, "weights": weights if model_name else None,
              "pairs": len(pairs),
              "folds": len(folds.accuracies), "accuracy": folds.mean, "accuracy_std": folds.std,
              "fold_accuracies": folds.accuracies, "fold_thresholds": folds.thresholds,
              "genuine_pairs": int(same.sum()), "impostor_pairs": int((~same).sum())}
    report.update({f"tar_at_far_{far:g}": tar_at_far(scores, same, far) for far in FARS})
    report.update(_identification(emb, identities, index))
    report["report_dir"] = str(folder)
    _write_roc(folder, *roc_curve(scores, same))
    write_text_atomic(folder / "verify.json", json.dumps(report, indent=2) + "\n")
    return report


def _identification(emb: torch.Tensor, identities: dict[str, list[Path]],
                    index: dict[Path, int]) -> dict[str, Any]:
    gallery, gallery_labels, probes, probe_labels = [], [], [], []
    for label, images in enumerate(identities.values()):
        gallery.append(index[images[0]])
        gallery_labels.append(label)
        probes += [index[f] for f in images[1:]]
        probe_labels += [label] * (len(images) - 1)
    rank1, mean_ap = identification(emb[probes], torch.tensor(probe_labels), emb[gallery],
                                    torch.tensor(gallery_labels))
    return {"rank1": rank1, "map": mean_ap, "gallery": len(gallery), "probes": len(probes)}


def _write_roc(folder: Path, thresholds: list[float], fars: list[float],
               tars: list[float]) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["threshold", "far", "tar"])
    writer.writerows(zip(thresholds, fars, tars))
    write_text_atomic(folder / "roc.csv", text.getvalue())
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    smallest = min((f for f in fars if f > 0), default=1e-4)
    ax.plot([max(f, smallest / 10) for f in fars], tars)
    ax.set_xscale("log")
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title("ROC (cosine similarity)")
    ax.grid(True, alpha=0.3)
    save_figure(fig, folder / "roc.png", tight=True)


def print_report(report: dict[str, Any]) -> None:
    print(f"10-fold accuracy {100 * report['accuracy']:.2f}% +- "
          f"{100 * report['accuracy_std']:.2f}  ({report['pairs']} pairs, "
          f"{report['folds']} folds)")
    for far in FARS:
        print(f"TAR at FAR {far:g}: {100 * report[f'tar_at_far_{far:g}']:.2f}%  "
              f"({report['impostor_pairs']} impostor pairs)")
    print(f"identification: rank-1 {100 * report['rank1']:.2f}%  mAP "
          f"{100 * report['map']:.2f}%  ({report['gallery']} gallery, {report['probes']} "
          "probes)")
    print(f"report: {os.path.join(report['report_dir'], 'verify.json')}")

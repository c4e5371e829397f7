"""Metric learning as a task of the engine: embeddings of a registry backbone trained with
ArcFace, CosFace, triplet, supervised-contrastive or softmax loss.

The data are the classification task's in-memory datasets (digits, synthetic, CIFAR; the
identities are the classes, ``data.classes`` keeps some of them); batches are shuffled or
P x K identity batches (:mod:`resnets.metric.sampler`). Evaluation embeds the test split
(and the validation split when ``data.val_size`` > 0) and reports leave-one-out recall@1 and
mAP by cosine: how well the embeddings group the training identities' unseen images.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import data as D
from ..data.steps import check_global_batch
from ..errors import ResnetsError
from ..models import model_info
from ..models.registry import check_modality
from ..train.evaluate import batch_to_device
from ..train.finetune import check_pretrained
from ..train.metadata import check_same_run, image_metadata
from ..train.pipeline import augmentation, load_arrays
from ..train.setup import build_model
from ..train.task import StepOutput, Task, register_task
from .config import CLASS_COUNTS, MetricConfig, parse_classes
from .folders import MetricData, folder_data
from .model import EmbeddingNet, metric_loss
from .protocol import leave_one_out
from .sampler import PKLoader


def keep_classes(ds: D.ArrayDataset, chosen: list[int]) -> D.ArrayDataset:
    """The samples of the ``chosen`` labels, relabelled 0.. in that order."""
    relabel = torch.full((len(ds.classes),), -1, dtype=torch.long)
    relabel[chosen] = torch.arange(len(chosen))
    kept = torch.nonzero(relabel[ds.labels] >= 0).flatten()
    return D.ArrayDataset(ds.images[kept], relabel[ds.labels[kept]],
                          [ds.classes[c] for c in chosen])


def embed_batches(model: torch.nn.Module, batches, device: torch.device
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(unit embeddings, labels) of every batch, in evaluation mode."""
    was_training = model.training
    model.eval()
    embeddings, labels = [], []
    with torch.no_grad():
        for images, targets in batches:
            embeddings.append(model(images.to(device)).float().cpu())
            labels.append(targets.cpu())
    model.train(was_training)
    return torch.cat(embeddings), torch.cat(labels)


@register_task
class MetricTask(Task):
    config_class = MetricConfig
    monitor = "val_recall1"  # best.pt only with a validation split
    higher_is_better = True

    def check(self, cfg: MetricConfig, resuming: bool) -> None:
        if cfg.data.dataset not in (*CLASS_COUNTS, "folder"):
            raise ResnetsError(f"data.dataset={cfg.data.dataset}: metric learning reads "
                               "digits, synthetic, cifar10, cifar100 or folder")
        if cfg.data.dataset == "folder" and cfg.metric.identity_batches:
            raise ResnetsError(f"metric.loss={cfg.metric.loss} takes P x K batches, which "
                               "image folders do not give yet; use metric.sampler=shuffle or "
                               "an in-memory dataset")
        if cfg.data.mixup_alpha or cfg.data.cutmix_alpha:
            raise ResnetsError("mixup and cutmix mix identities; set data.mixup_alpha=0 and "
                               "data.cutmix_alpha=0 for metric learning")
        if cfg.model.num_classes:
            raise ResnetsError("model.num_classes is set by data.classes in metric learning; "
                               "drop model.num_classes")
        # before any data (a folder's identities are counted once it is read)
        parse_classes(cfg.data.classes, CLASS_COUNTS.get(cfg.data.dataset, 10**9))
        model_info(cfg.model.name)
        check_modality("model.name", cfg.model.name, "image", "metric learning on images")
        if not resuming:
            check_pretrained(cfg.model.pretrained, cfg.model.name)

    def run_name(self, cfg: MetricConfig) -> str:
        return cfg.recipe or f"metric-{cfg.metric.loss}-{cfg.model.name}"

    def build_data(self, cfg: MetricConfig, device: torch.device, rank: int,
                   world_size: int) -> MetricData:
        check_global_batch(cfg.batch_size, world_size)
        if cfg.data.dataset == "folder":
            return folder_data(cfg, device, rank, world_size)
        train, test = load_arrays(cfg)
        chosen = parse_classes(cfg.data.classes, len(train.classes))
        train, test = keep_classes(train, chosen), keep_classes(test, chosen)
        val = None
        if cfg.data.val_size:
            train, val = D.split_train_val(train, cfg.data.val_size, seed=cfg.seed)
        mean, std = D.channel_stats(train)
        common = dict(device=device, mean=mean, std=std)
        options = dict(augment=augmentation(cfg), seed=cfg.seed, rank=rank,
                       world_size=world_size, **common)
        per_rank = cfg.batch_size // world_size
        if cfg.metric.identity_batches:
            loader = PKLoader(train, per_rank, cfg.metric.k, **options)
        else:
            loader = D.InMemoryLoader(train, per_rank, shuffle=True, drop_last=True, **options)

        def evaluation(ds):  # every process embeds the whole split: rankings need all of it
            return D.InMemoryLoader(ds, cfg.eval_batch_size, shuffle=False, drop_last=False,
                                    **common)

        return MetricData(loader, [], evaluation(test),
                          evaluation(val) if val is not None else None, list(train.classes),
                          train.images.shape[1], train.images.shape[-1],
                          [float(m) for m in mean], [float(s) for s in std])

    def build_model(self, cfg: MetricConfig, data: MetricData, device: torch.device,
                    load_pretrained: bool) -> torch.nn.Module:
        backbone = build_model(cfg, 0, data.in_chans, device, load_pretrained=load_pretrained)
        model = EmbeddingNet(backbone, cfg.metric, len(data.classes)).to(device)
        return model.to(memory_format=torch.channels_last) if cfg.channels_last else model

    def build_step(self, cfg: MetricConfig, data: MetricData):
        loss_of = metric_loss(cfg.metric)
        counts = cfg.metric.loss in ("arcface", "cosface", "softmax")

        def step(net, batch, device: torch.device) -> StepOutput:
            images, labels = batch_to_device(*batch, device, cfg.channels_last)
            outputs = net(images, labels)
            loss = loss_of(outputs, labels)
            n = len(labels)
            sums = {"loss": loss.detach().float() * n, "seen": n}
            if counts:  # the identity head's training error (margin logits for ArcFace)
                sums["correct"] = (outputs.argmax(1) == labels).sum()
            return StepOutput(loss, sums)

        return step

    def model_input(self, cfg: MetricConfig, batch, device: torch.device) -> torch.Tensor:
        return batch_to_device(*batch, device, cfg.channels_last)[0]

    def evaluate(self, model, data: MetricData, cfg: MetricConfig, device: torch.device,
                 is_main: bool) -> dict[str, Any]:
        row = {}
        for name, batches in (("val", data.val), ("test", data.test)):
            if batches is not None:
                recall1, mean_ap = leave_one_out(*embed_batches(model, batches, device))
                row.update({f"{name}_recall1": recall1, f"{name}_map": mean_ap})
        return row

    def train_metrics(self, sums: dict[str, Any]) -> dict[str, float]:
        seen = max(int(sums["seen"]), 1)
        out = {"train_loss": float(sums["loss"]) / seen}
        if "correct" in sums:
            out["train_error"] = 1 - float(sums["correct"]) / seen
        return out

    def metadata(self, cfg: MetricConfig, data: MetricData) -> dict[str, Any]:
        return image_metadata(cfg.model.name, data)

    def check_checkpoint(self, cfg: MetricConfig, state: dict[str, Any], data: MetricData,
                         where: str) -> None:
        check_same_run(state, cfg.model.name, data.classes, where)

    def summary(self, cfg: MetricConfig, common: dict[str, Any], last: dict[str, Any],
                best: float) -> dict[str, Any]:
        out = super().summary(cfg, common, last, best)
        out.update(loss=cfg.metric.loss, model=cfg.model.name)
        return out

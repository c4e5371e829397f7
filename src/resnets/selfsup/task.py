"""Self-supervised pretraining as a task of the engine (``resnets pretrain train``).

The training images are served by :class:`~resnets.data.InMemoryLoader` with
:class:`~resnets.data.views.TwoViews` as its augmentation: each batch of N images becomes
2N views drawn on the device from a generator seeded by the batch's (seed, epoch, index,
rank), so the views follow from the engine's step and a resumed run draws the same ones.
Labels are never used in training; they serve the kNN evaluation (:mod:`.knn`), run at
each evaluation on the unaugmented training images (the memory) and test images. Every
process computes the whole kNN evaluation itself (the sets are in memory), so no
collective is needed and all agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .. import data as D
from ..data.views import TwoViews
from ..data.steps import check_global_batch
from ..errors import CheckpointError, DataError
from ..models.registry import check_modality
from ..train.context import Hook
from ..train.pipeline import load_arrays
from ..train.task import StepOutput, Task, TaskData, register_task
from .config import SelfSupConfig
from .knn import knn_top1
from .models import (BACKBONE_PREFIX, build_network, nt_xent, symmetric_byol_loss,
                     target_momentum)


@dataclass
class SelfSupData(TaskData):
    train_images: D.ArrayDataset | None = None  # unaugmented: the kNN memory
    test_images: D.ArrayDataset | None = None
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)


class TargetUpdate(Hook):
    """BYOL: after each optimiser step, the target moves towards the online network with
    the cosine-increasing momentum (its weights are checkpointed with the model's)."""

    def __init__(self, base: float, total_steps: int) -> None:
        self.base, self.total_steps = base, total_steps

    def on_step_end(self, ctx) -> None:
        ctx.model.update_target(target_momentum(self.base, ctx.step - 1, self.total_steps))


@register_task
class SelfSupTask(Task):
    """SimCLR or BYOL pretraining of a registry backbone on unlabelled images."""

    config_class = SelfSupConfig
    monitor = "knn_top1"
    higher_is_better = True

    def check(self, cfg: SelfSupConfig, resuming: bool) -> None:
        check_modality("ssl.model", cfg.ssl.model, "image", "self-supervised pretraining")
        if cfg.data.dataset in ("cifar10", "cifar100") and not cfg.data.root:
            raise DataError(f"data.root is empty: point it at the folder holding the "
                            f"{cfg.data.dataset} files (data.root=/path/to/data)")

    def run_name(self, cfg: SelfSupConfig) -> str:
        return cfg.recipe or f"{cfg.ssl.method}-{cfg.ssl.model}"

    def build_data(self, cfg: SelfSupConfig, device: torch.device, rank: int,
                   world_size: int) -> SelfSupData:
        check_global_batch(cfg.batch_size, world_size)
        train, test = load_arrays(cfg)
        mean, std = D.channel_stats(train)
        loader = D.InMemoryLoader(train, cfg.batch_size // world_size, shuffle=True,
                                  drop_last=True, augment=TwoViews(cfg.views, cfg.views),
                                  device=device, seed=cfg.seed, mean=mean, std=std,
                                  rank=rank, world_size=world_size)
        return SelfSupData(loader, train_images=train, test_images=test,
                           mean=[float(m) for m in mean], std=[float(s) for s in std])

    def build_model(self, cfg: SelfSupConfig, data: SelfSupData, device: torch.device,
                    load_pretrained: bool) -> torch.nn.Module:
        s = cfg.ssl
        net = build_network(s.method, s.model, data.train_images.images.shape[1],
                            s.proj_hidden, s.proj_dim, s.pred_hidden).to(device)
        return net.to(memory_format=torch.channels_last) if cfg.channels_last else net

    def hooks(self, cfg: SelfSupConfig, data: SelfSupData) -> list:
        if cfg.ssl.method != "byol":
            return []
        steps = len(data.train) // cfg.optim.accum_steps
        return [TargetUpdate(cfg.ssl.momentum, cfg.iterations or cfg.epochs * steps)]

    def build_step(self, cfg: SelfSupConfig, data: SelfSupData):
        temperature = cfg.ssl.temperature

        def loss_of(out):
            if cfg.ssl.method == "byol":
                return symmetric_byol_loss(out)
            return nt_xent(out, temperature)

        def step(net, batch, device: torch.device) -> StepOutput:
            views = batch[0].to(device)  # 2N views; the labels are not used
            if cfg.channels_last:
                views = views.contiguous(memory_format=torch.channels_last)
            loss = loss_of(net(views))
            n = views.shape[0] // 2
            return StepOutput(loss, {"loss": loss.detach().float() * n, "seen": n})

        return step

    def evaluate(self, model, data: SelfSupData, cfg: SelfSupConfig, device: torch.device,
                 is_main: bool) -> dict[str, Any]:
        top1 = knn_top1(model.backbone, data.train_images, data.test_images, data.mean,
                        data.std, cfg.eval_batch_size, device, cfg.ssl.knn_k,
                        cfg.ssl.knn_temperature)
        return {"knn_top1": top1}

    def metadata(self, cfg: SelfSupConfig, data: SelfSupData) -> dict[str, Any]:
        images = data.train_images.images
        return {"model_name": cfg.ssl.model, "method": cfg.ssl.method,
                "backbone_prefix": BACKBONE_PREFIX, "in_chans": images.shape[1],
                "image_size": images.shape[-1], "mean": data.mean, "std": data.std}

    def check_checkpoint(self, cfg: SelfSupConfig, state: dict[str, Any], data: SelfSupData,
                         where: str) -> None:
        for key, value in (("model_name", cfg.ssl.model), ("method", cfg.ssl.method)):
            if state.get(key) != value:
                raise CheckpointError(f"{where} was trained with {key} {state.get(key)!r}, "
                                      f"not {value!r}; resume with the same settings")

    def summary(self, cfg: SelfSupConfig, common: dict[str, Any], last: dict[str, Any],
                best: float) -> dict[str, Any]:
        out = super().summary(cfg, common, last, best)
        out.update(method=cfg.ssl.method, model=cfg.ssl.model,
                   pretrained=f"model.name={cfg.ssl.model} model.pretrained={common['run_dir']}")
        return out

"""Super-resolution as a task of the engine (``resnets sr train``).

The batches are (LR, HR) patch pairs cut at random from the training folder's images
(:mod:`resnets.sr.data`; :class:`~resnets.data.steps.StepLoader` makes them a function of
the seed and the step); the loss is the L1 distance of the network's output to the HR patch
(``loss_l1``, EDSR's); each evaluation scores the whole validation images, the network's
and bicubic upsampling's PSNR and SSIM on the luminance (:mod:`resnets.sr.upscale`), and the
best ``psnr`` keeps ``best.pt``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..data.steps import StepLoader
from ..errors import DataError
from ..train.dense import DenseData, DenseTask
from ..train.task import register_task
from .config import SRConfig
from .data import training_patches, validation_pairs
from .upscale import build_network, score


@register_task
class SRTask(DenseTask):
    config_class = SRConfig
    monitor = "psnr"
    split, split_help = "folder", "a folder of high-resolution images"
    shown = ("psnr", "ssim", "bicubic_psnr")
    model_section, named_by = "network", ("name",)

    def check(self, cfg: SRConfig, resuming: bool) -> None:
        super().check(cfg, resuming)
        with torch.device("meta"):  # the network's options, before any image is read
            build_network(cfg.network, cfg.data.channels)

    def build_data(self, cfg: SRConfig, device: torch.device, rank: int,
                   world_size: int) -> DenseData:
        d = cfg.data
        scale = self.scale(cfg)
        train = training_patches(d.train, scale, d.channels, d.patch_size, d.repeat,
                                 d.augment, d.downscales)
        if len(train) < cfg.batch_size:
            raise DataError(f"the {len(train.pairs.files)} training images give {len(train)} "
                            f"patches an epoch (data.repeat={d.repeat}), fewer than "
                            f"batch_size {cfg.batch_size}; raise data.repeat")
        val = validation_pairs(d.val, scale, d.channels)
        loader = StepLoader(train, cfg.batch_size, cfg.seed, d.workers, drop_last=True,
                            rank=rank, world_size=world_size)
        return DenseData(loader, val=val)

    @staticmethod
    def scale(cfg: SRConfig) -> int:
        with torch.device("meta"):
            return build_network(cfg.network, cfg.data.channels).scale

    def build_model(self, cfg: SRConfig, data: DenseData, device: torch.device,
                    load_pretrained: bool) -> nn.Module:
        net = build_network(cfg.network, cfg.data.channels).to(device)
        return net.to(memory_format=torch.channels_last) if cfg.channels_last else net

    def losses(self, cfg: SRConfig, net: nn.Module, batch: Any,
               device: torch.device) -> dict[str, torch.Tensor]:
        lr, hr = (t.to(device) for t in batch)
        if cfg.channels_last:
            lr = lr.contiguous(memory_format=torch.channels_last)
        return {"loss_l1": F.l1_loss(net(lr).float(), hr)}

    def validation_metrics(self, model: nn.Module, data: DenseData, cfg: SRConfig,
                           device: torch.device) -> dict[str, Any]:
        return score(model, data.val)

    def metadata(self, cfg: SRConfig, data: DenseData) -> dict[str, Any]:
        """What ``resnets sr evaluate|predict`` rebuild the network and find its data by."""
        data = asdict(cfg.data)  # as JSON holds it: check_keys reads a tuple field as a list
        return {"network": asdict(cfg.network),
                "data": {**data, "downscales": list(data["downscales"])}}

    def check_checkpoint(self, cfg: SRConfig, state: dict[str, Any], data: DenseData,
                         where: str) -> None:
        """Nothing beyond the weights' names and shapes (``check_weights``): no classes."""

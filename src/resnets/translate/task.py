"""Paired image-to-image translation (pix2pix) as a task of the engine.

The engine's optimiser (``optim``) updates the ResNet generator with the adversarial loss
plus ``translator.l1_weight`` times L1(G(a), b); the PatchGAN discriminator has its own
(``d_optim``, :mod:`resnets.train.multi`) and takes one step of the (halved) cross-entropy
on real and generated pairs before each generator step. Evaluation: the mean L1 distance and
PSNR of G(a) against the true b on the held-out pairs, pixels in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..data import ArrayDataset
from ..data.steps import StepLoader
from ..errors import DataError
from ..models.translation import PatchDiscriminator, TranslationGenerator, TranslationPair
from ..train.ema import unwrap_model
from ..train.image_quality import psnr
from ..train.multi import ExtraOptimizer
from ..train.task import StepOutput, Task, TaskData, register_task
from .config import TranslateConfig
from .data import load_pairs


@dataclass
class PairedData(TaskData):
    val_a: torch.Tensor | None = None  # held-out inputs, uint8
    val_b: torch.Tensor | None = None  # their true outputs
    in_chans: int = 3


def to_signed(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> [-1, 1], the range of the generator's tanh."""
    return images.float() / 127.5 - 1


def build_networks(cfg: TranslateConfig) -> TranslationPair:
    t = cfg.translator
    return TranslationPair(TranslationGenerator(3, 3, t.width, t.blocks, t.residual),
                           PatchDiscriminator(6, t.d_width, t.d_layers))


@torch.no_grad()
def translate(generator: torch.nn.Module, a: torch.Tensor, device: torch.device,
              batch: int = 32) -> torch.Tensor:
    """G(a) in [0, 1] on the CPU for uint8 inputs ``a``."""
    out = [generator(to_signed(x).to(device)).float().cpu() for x in a.split(batch)]
    return (torch.cat(out) + 1) / 2


@register_task
class TranslateTask(Task):
    config_class = TranslateConfig
    monitor = "val_l1"

    def check(self, cfg: TranslateConfig, resuming: bool) -> None:
        if not cfg.data.train or not cfg.data.val:
            raise DataError("data.train and data.val name paired folders (A/ and B/); "
                            "`resnets translate synth DIR` writes a demo set")

    def run_name(self, cfg: TranslateConfig) -> str:
        return cfg.recipe or "translate"

    def build_data(self, cfg: TranslateConfig, device, rank: int, world_size: int):
        train_a, train_b, _ = load_pairs(cfg.data.train)
        val_a, val_b, _ = load_pairs(cfg.data.val)
        # A pair as one 6-channel uint8 image: the loader's dataset holds images and labels.
        pairs = ArrayDataset(torch.cat([train_a, train_b], 1),
                             torch.zeros(len(train_a), dtype=torch.long), ["pair"])
        loader = StepLoader(pairs, cfg.batch_size, cfg.seed, drop_last=True, rank=rank,
                            world_size=world_size)
        return PairedData(loader, val_a=val_a, val_b=val_b)

    def build_model(self, cfg: TranslateConfig, data: PairedData, device, load_pretrained):
        side, layers = min(data.val_a.shape[2:]), cfg.translator.d_layers
        if side // 2 ** layers < 3:  # its last normalised map would be a single pixel
            raise DataError(f"translator.d_layers={layers} judges patches larger than the "
                            f"{side}-pixel images; lower it (at most "
                            f"{max(1, (side // 3).bit_length() - 1)})")
        return build_networks(cfg).to(device)

    def optimized_module(self, model: TranslationPair) -> torch.nn.Module:
        return model.generator

    def extra_optimizers(self, cfg: TranslateConfig, model) -> list[ExtraOptimizer]:
        return [ExtraOptimizer("discriminator", model.discriminator, cfg.d_optim)]

    def build_step(self, cfg: TranslateConfig, data: PairedData, updates=None):
        weight = cfg.translator.l1_weight

        def step(net, batch, device: torch.device) -> StepOutput:
            pair = to_signed(batch[0].to(device))
            a, b = pair[:, :3], pair[:, 3:]
            model = unwrap_model(net)  # the discriminator's step bypasses DDP (train.multi)
            with torch.no_grad():
                fake = model.generator(a)
            real_logits, fake_logits = model.discriminator(b, a), model.discriminator(fake, a)
            d_loss = 0.5 * (F.binary_cross_entropy_with_logits(real_logits,
                                                               torch.ones_like(real_logits))
                            + F.binary_cross_entropy_with_logits(fake_logits,
                                                                 torch.zeros_like(fake_logits)))
            updates.step("discriminator", d_loss)
            fake, logits = net(a)
            adversarial = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
            l1 = F.l1_loss(fake, b)
            n = len(a)
            return StepOutput(adversarial + weight * l1,
                              {"loss": adversarial.detach().float() * n, "seen": n,
                               "l1": l1.detach().float() * n, "d_loss": d_loss.detach() * n})

        return step

    def train_metrics(self, sums: dict[str, Any]) -> dict[str, float]:
        seen = max(float(sums["seen"]), 1.0)
        return {"train_adv": float(sums["loss"]) / seen, "train_l1": float(sums["l1"]) / seen,
                "train_d_loss": float(sums["d_loss"]) / seen}

    def evaluate(self, model, data: PairedData, cfg: TranslateConfig, device, is_main):
        fake = translate(model.generator, data.val_a, device, cfg.eval_batch_size)
        true = data.val_b.float() / 255
        # [0, 1] pixels; the L1 of the loss (in [-1, 1]) is twice this
        return {"val_l1": float((fake - true).abs().mean()),
                "val_psnr": float(psnr(fake, true).mean())}

    def metadata(self, cfg: TranslateConfig, data: PairedData) -> dict[str, Any]:
        return {"image_size": list(data.val_a.shape[2:])}

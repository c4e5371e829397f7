"""The residual GAN as a task of the engine.

The engine's optimiser (``optim``) updates the generator; the discriminator has its own
(``d_optim``, :mod:`resnets.train.multi`) and takes ``gan.n_dis`` hinge-loss steps, each on
a batch of real images of its own, before every generator step. The engine's EMA
(``optim.ema_decay``) averages the pair; evaluation samples from the averaged generator with a
fixed noise, writes the grid as ``samples/step_NNNNNN.png`` and, with ``eval.classifier``,
scores the samples with that classifier (:mod:`resnets.train.image_metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..data import load_cifar, load_digits
from ..data.steps import StepLoader
from ..errors import ResnetsError
from ..models.gan import (GANPair, ResNetDiscriminator, ResNetGenerator, hinge_d_loss,
                          hinge_g_loss)
from ..train.context import Hook
from ..train.ema import unwrap_model
from ..train.image_metrics import (FeatureClassifier, classifier_score, frechet_distance,
                                   gaussian)
from ..train.multi import ExtraOptimizer
from ..train.task import StepOutput, Task, TaskData, register_task
from .config import GanConfig
from .grid import generate, save_grid, write_grid_png

@dataclass
class GanData(TaskData):
    train: Any = None
    real_test: torch.Tensor | None = None  # held-out real images, N x C x H x W in [0, 1]
    real_train: torch.Tensor | None = None  # the training images, same
    classes: list[str] = field(default_factory=list)
    in_chans: int = 1
    grid: torch.Tensor | None = None  # the last evaluation's sample grid, not yet written
    classifier: FeatureClassifier | None = None  # eval.classifier, loaded once


def real_images(cfg: GanConfig) -> tuple[Any, Any]:
    """The training and held-out images at ``gan.image_size`` (uint8)."""
    if cfg.data.dataset == "digits":
        train, test = load_digits("train", seed=cfg.seed), load_digits("test", seed=cfg.seed)
    else:
        if not cfg.data.root:
            raise ResnetsError("data.root is empty: point it at the CIFAR-10 folder")
        train = load_cifar(cfg.data.root, "cifar10", "train")
        test = load_cifar(cfg.data.root, "cifar10", "test")
    side = cfg.gan.image_size
    out = []
    for ds in (train, test):
        images = ds.images
        if images.shape[-1] != side:  # as `data.resize` does for the classifier's runs
            images = F.interpolate(images.float(), size=(side, side), mode="bilinear",
                                   align_corners=False).round().clamp(0, 255).to(torch.uint8)
        out.append(type(ds)(images, ds.labels, ds.classes))
    return out[0], out[1]


def build_networks(cfg: GanConfig, classes: int, chans: int) -> GANPair:
    g = cfg.gan
    n = classes if g.conditional else 0
    return GANPair(ResNetGenerator(g.image_size, chans, g.z_dim, g.g_channels, n, g.bottom,
                                   residual=g.residual),
                   ResNetDiscriminator(g.image_size, chans, g.d_channels, n, g.bottom,
                                       residual=g.residual))


class GridWriter(Hook):
    """Writes the sample grid of each evaluation (rank 0) once its row is logged."""

    def on_epoch_end(self, ctx, row: dict) -> None:
        if ctx.data.grid is not None and ctx.is_main:
            path = ctx.run_dir / "samples" / f"step_{ctx.step:06d}.png"
            write_grid_png(ctx.data.grid, path)
        ctx.data.grid = None


@register_task
class GanTask(Task):
    config_class = GanConfig
    monitor = ""  # no best.pt: a GAN's scores are no validation loss

    def check(self, cfg: GanConfig, resuming: bool) -> None:
        if cfg.eval.classifier:
            if not Path(cfg.eval.classifier).exists():
                raise ResnetsError(f"eval.classifier={cfg.eval.classifier!r} does not exist; "
                                   "name a run directory or checkpoint of `resnets train`")

    def run_name(self, cfg: GanConfig) -> str:
        return cfg.recipe or ("gan" if cfg.gan.residual else "gan-plain")

    def build_data(self, cfg: GanConfig, device, rank: int, world_size: int) -> GanData:
        train, test = real_images(cfg)
        loader = StepLoader(train, cfg.batch_size * cfg.gan.n_dis, cfg.seed, drop_last=True,
                            rank=rank, world_size=world_size)
        data = GanData(loader, real_test=test.images.float() / 255, classes=list(train.classes),
                       real_train=train.images.float() / 255, in_chans=train.images.shape[1])
        if cfg.eval.classifier:  # checked before training, not at the first evaluation
            data.classifier = FeatureClassifier.load(cfg.eval.classifier, device)
            c = data.classifier
            if c.in_chans != data.in_chans or (cfg.gan.conditional
                                               and c.classes != data.classes):
                raise ResnetsError(f"eval.classifier {cfg.eval.classifier!r} reads "
                                   f"{c.in_chans}-channel images of {len(c.classes)} classes, "
                                   f"not the {data.in_chans}-channel {cfg.data.dataset} "
                                   f"images of {len(data.classes)}; train one on this data")
        return data

    def build_model(self, cfg: GanConfig, data: GanData, device, load_pretrained: bool):
        return build_networks(cfg, len(data.classes), data.in_chans).to(device)

    def optimized_module(self, model: GANPair) -> torch.nn.Module:
        return model.generator

    def extra_optimizers(self, cfg: GanConfig, model: GANPair) -> list[ExtraOptimizer]:
        return [ExtraOptimizer("discriminator", model.discriminator, cfg.d_optim)]

    def hooks(self, cfg: GanConfig, data: GanData) -> list:
        return [GridWriter()]

    def build_step(self, cfg: GanConfig, data: GanData, updates=None):
        g, conditional = cfg.gan, cfg.gan.conditional

        def step(net, batch, device: torch.device) -> StepOutput:
            images, labels = batch
            real = images.to(device).float() / 127.5 - 1  # uint8 -> [-1, 1], as tanh gives
            labels = labels.to(device)
            pair = unwrap_model(net)  # the discriminator's steps bypass DDP (see train.multi)
            d_sum = real_sum = fake_sum = 0.0
            for x, y in zip(real.chunk(g.n_dis), labels.chunk(g.n_dis)):
                y = y if conditional else None
                with torch.no_grad():
                    fake = pair.generator(torch.randn(len(x), g.z_dim, device=device), y)
                real_scores, fake_scores = pair.discriminator(x, y), pair.discriminator(fake, y)
                d_loss = hinge_d_loss(real_scores, fake_scores)
                updates.step("discriminator", d_loss)
                d_sum = d_sum + d_loss.detach().float()
                real_sum = real_sum + real_scores.detach().float().mean()
                fake_sum = fake_sum + fake_scores.detach().float().mean()
            n = len(labels) // g.n_dis
            y = labels[:n] if conditional else None
            g_loss = hinge_g_loss(net(torch.randn(n, g.z_dim, device=device), y))
            return StepOutput(g_loss, {"loss": g_loss.detach().float(), "steps": 1,
                                       "d_loss": d_sum / g.n_dis, "d_real": real_sum / g.n_dis,
                                       "d_fake": fake_sum / g.n_dis, "seen": n})

        return step

    def train_metrics(self, sums: dict[str, Any]) -> dict[str, float]:
        steps = max(float(sums.get("steps", 0)), 1.0)
        return {"g_loss": float(sums["loss"]) / steps, "d_loss": float(sums["d_loss"]) / steps,
                "d_real": float(sums["d_real"]) / steps, "d_fake": float(sums["d_fake"]) / steps}

    def evaluate(self, model, data: GanData, cfg: GanConfig, device, is_main: bool) -> dict:
        classes = len(data.classes)
        count = cfg.eval.samples or len(data.real_test)
        labels = torch.arange(count) % classes  # every class equally often
        images = generate(model.generator, labels, cfg.gan.z_dim, device,
                          conditional=cfg.gan.conditional)
        data.grid = save_grid(model.generator, classes, cfg, device)
        if data.classifier is None:
            return {}
        return score_samples(data.classifier, images,
                             labels if cfg.gan.conditional else None, data)

    def metadata(self, cfg: GanConfig, data: GanData) -> dict[str, Any]:
        return {"classes": data.classes, "in_chans": data.in_chans,
                "image_size": cfg.gan.image_size}


def score_samples(classifier: FeatureClassifier, images: torch.Tensor,
                  labels: torch.Tensor | None, data: GanData) -> dict[str, float]:
    """Frechet distance of ``images`` to the training images in the classifier's features,
    the same for the held-out real images (real against real), the classifier score, and
    with ``labels`` the share of images classified as their class (overall and per class)."""
    train_feats, _ = classifier(data.real_train)
    test_feats, _ = classifier(data.real_test)
    feats, probs = classifier(images)
    reference = gaussian(train_feats)
    row = {"fd": frechet_distance(*gaussian(feats), *reference),
           "fd_real": frechet_distance(*gaussian(test_feats), *reference),
           "classifier_score": classifier_score(probs)}
    if labels is not None:
        hits = probs.argmax(1) == labels
        row["class_accuracy"] = float(hits.float().mean())
        for c, name in enumerate(data.classes):
            row[f"class_accuracy/{name}"] = float(hits[labels == c].float().mean())
    return row

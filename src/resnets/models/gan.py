"""The residual generator and discriminator of SN-GAN's CIFAR models (Miyato et al. 2018).

Generator: a linear map of the noise ``z`` to a ``bottom x bottom`` feature map, residual
up-blocks (BN, ReLU, nearest-neighbour 2x upsampling, 3x3 conv, BN, ReLU, 3x3 conv; the
shortcut upsamples and projects with a 1x1 conv), then BN, ReLU, a 3x3 conv to the image
and tanh. For class-conditional training its BatchNorms are conditional (de Vries et al.
2017; BigGAN): the scale and shift of each normalised channel are looked up per class.

Discriminator: residual down-blocks (ReLU, 3x3 conv, ReLU, 3x3 conv, 2x2 average pooling;
the shortcut projects with a 1x1 conv and pools; the first block has no ReLU before its first
conv), two blocks at the last resolution, ReLU, global sum pooling and a linear score, every
layer spectrally normalised (``torch.nn.utils.parametrizations.spectral_norm``). With classes
it is a projection discriminator (Miyato and Koyama 2018): the score adds the inner product of
the pooled features with an embedding of the class.

``residual=False`` builds the plain twin of either network: the same branches without their
shortcuts (the ablation).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without affine parameters of its own; each class has a scale and a shift
    (``classes=0``: plain BatchNorm with one of each)."""

    def __init__(self, channels: int, classes: int = 0) -> None:
        super().__init__()
        self.classes = classes
        self.norm = nn.BatchNorm2d(channels, affine=not classes)
        if classes:
            self.scale = nn.Embedding(classes, channels)
            self.shift = nn.Embedding(classes, channels)
            nn.init.ones_(self.scale.weight)
            nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.norm(x)
        if not self.classes:
            return out
        return (out * self.scale(labels)[:, :, None, None]
                + self.shift(labels)[:, :, None, None])


class UpBlock(nn.Module):
    """The generator's residual block, doubling height and width."""

    def __init__(self, in_ch: int, out_ch: int, classes: int, residual: bool = True) -> None:
        super().__init__()
        self.norm1 = ConditionalBatchNorm2d(in_ch, classes)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2 = ConditionalBatchNorm2d(out_ch, classes)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1) if residual else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.norm1(x, labels)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h), labels)))
        if self.shortcut is None:
            return h
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DownBlock(nn.Module):
    """The discriminator's residual block (spectrally normalised), halving the size when
    ``down``; ``first``: the block on the image itself (no ReLU before its first conv)."""

    def __init__(self, in_ch: int, out_ch: int, down: bool, first: bool = False,
                 residual: bool = True) -> None:
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = spectral_norm(nn.Conv2d(in_ch, out_ch, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        learn = residual and (in_ch != out_ch or down)
        self.shortcut = spectral_norm(nn.Conv2d(in_ch, out_ch, 1)) if learn else None
        self.residual = residual

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self._pool(self.conv2(F.relu(self.conv1(h))))
        if not self.residual:
            return h
        if self.shortcut is None:
            return h + x
        if self.first:  # pool, then project (SN-GAN's optimised first block)
            return h + self.shortcut(self._pool(x))
        return h + self._pool(self.shortcut(x))


def _up_blocks(image_size: int, bottom: int) -> int:
    blocks = round(math.log2(image_size / bottom))
    if blocks < 1 or bottom * 2 ** blocks != image_size:
        raise ValueError(f"image size {image_size} is not {bottom} times a power of two")
    return blocks


class ResNetGenerator(nn.Module):
    """``forward(z, labels) -> images`` in [-1, 1], ``channels`` wide at every resolution."""

    def __init__(self, image_size: int = 32, out_chans: int = 3, z_dim: int = 128,
                 channels: int = 256, classes: int = 0, bottom: int = 4,
                 residual: bool = True) -> None:
        super().__init__()
        self.z_dim, self.classes, self.bottom, self.channels = z_dim, classes, bottom, channels
        self.linear = nn.Linear(z_dim, bottom * bottom * channels)
        self.blocks = nn.ModuleList(UpBlock(channels, channels, classes, residual)
                                    for _ in range(_up_blocks(image_size, bottom)))
        self.norm = nn.BatchNorm2d(channels)
        self.out = nn.Conv2d(channels, out_chans, 3, padding=1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.linear(z).view(len(z), self.channels, self.bottom, self.bottom)
        for block in self.blocks:
            h = block(h, labels)
        return torch.tanh(self.out(F.relu(self.norm(h))))


class ResNetDiscriminator(nn.Module):
    """``forward(images, labels) -> one score per image``; larger is "real"."""

    def __init__(self, image_size: int = 32, in_chans: int = 3, channels: int = 128,
                 classes: int = 0, bottom: int = 4, residual: bool = True) -> None:
        super().__init__()
        downs = _up_blocks(image_size, bottom)
        blocks = [DownBlock(in_chans, channels, down=True, first=True, residual=residual)]
        blocks += [DownBlock(channels, channels, down=True, residual=residual)
                   for _ in range(downs - 1)]
        blocks += [DownBlock(channels, channels, down=False, residual=residual)
                   for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self.linear = spectral_norm(nn.Linear(channels, 1))
        self.embed = spectral_norm(nn.Embedding(classes, channels)) if classes else None

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = F.relu(self.blocks(images)).sum(dim=(2, 3))  # global sum pooling
        score = self.linear(h).flatten()
        if self.embed is not None:  # the projection term: <embed(y), h>
            score = score + (self.embed(labels) * h).sum(1)
        return score


class GANPair(nn.Module):
    """A generator and its discriminator as one model (one checkpoint, one EMA).

    ``forward(z, labels)`` is what the generator's update differentiates: the
    discriminator's scores of the generated images."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        self.generator, self.discriminator = generator, discriminator

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.discriminator(self.generator(z, labels), labels)


def hinge_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The discriminator's hinge loss: E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]."""
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def hinge_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The generator's hinge loss: -E[D(G(z))]."""
    return -fake_scores.mean()

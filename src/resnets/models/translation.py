"""The networks of paired image-to-image translation (pix2pix, Isola et al. 2017) with the
ResNet generator of CycleGAN (Zhu et al. 2017, after Johnson et al. 2016).

Generator: a 7x7 conv, two stride-2 3x3 convs (downsampling, doubling the width), ``blocks``
residual blocks (reflection-padded 3x3 conv, instance norm, ReLU, 3x3 conv, instance norm,
plus the input), two stride-2 transposed convs back to the input size, a 7x7 conv and tanh.
``residual=False`` drops the blocks' shortcuts (the plain twin). Discriminator: PatchGAN, a
stack of 4x4 convs whose every output judges one patch of the (condition, image) pair.
"""

from __future__ import annotations

import torch
from torch import nn


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels)  # no running statistics: train and test alike


class TranslationBlock(nn.Module):
    def __init__(self, channels: int, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class TranslationGenerator(nn.Module):
    """``forward(a) -> b`` in [-1, 1], the input's size (a multiple of 4)."""

    def __init__(self, in_chans: int = 3, out_chans: int = 3, width: int = 64,
                 blocks: int = 9, residual: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_chans, width, 7),
                                   _norm(width), nn.ReLU(inplace=True)]
        for k in range(2):  # downsampling
            c = width * 2 ** k
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), _norm(2 * c),
                       nn.ReLU(inplace=True)]
        layers += [TranslationBlock(width * 4, residual) for _ in range(blocks)]
        for k in (2, 1):  # upsampling
            c = width * 2 ** k
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                       _norm(c // 2), nn.ReLU(inplace=True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_chans, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.net(a)


class PatchDiscriminator(nn.Module):
    """``forward(b, a) -> a map of logits``, one per patch ("real pair" when large)."""

    def __init__(self, in_chans: int = 6, width: int = 64, layers: int = 3) -> None:
        super().__init__()
        seq: list[nn.Module] = [nn.Conv2d(in_chans, width, 4, stride=2, padding=1),
                                nn.LeakyReLU(0.2, inplace=True)]
        c = width
        for k in range(1, layers + 1):
            out = width * min(2 ** k, 8)
            stride = 2 if k < layers else 1
            seq += [nn.Conv2d(c, out, 4, stride=stride, padding=1), _norm(out),
                    nn.LeakyReLU(0.2, inplace=True)]
            c = out
        seq.append(nn.Conv2d(c, 1, 4, padding=1))
        self.net = nn.Sequential(*seq)

    def forward(self, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([a, b], dim=1))


class TranslationPair(nn.Module):
    """Generator and discriminator as one model; ``forward(a)`` is what the generator's
    update differentiates: ``(fake_b, the discriminator's logits of (a, fake_b))``."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        self.generator, self.discriminator = generator, discriminator

    def forward(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fake = self.generator(a)
        return fake, self.discriminator(fake, a)

"""The recipes of ``resnets gan train --recipe NAME`` (listed by ``resnets recipes``)."""

from __future__ import annotations

from ..train.recipes import Recipe, register_recipes

register_recipes([
    Recipe("digits-cgan",
           "class-conditional SN-GAN-style residual GAN on the 8x8 digits (docs/generative.md)",
           "Miyato et al. 2018 (ResNet G/D, hinge loss, spectral norm), Miyato and Koyama "
           "2018 (projection), TTUR lr 1e-4/4e-4 with Adam(0, 0.999) as in BigGAN",
           {"gan.image_size": 8, "gan.bottom": 2, "gan.g_channels": 64,
            "gan.d_channels": 64, "batch_size": 64, "epochs": 100, "eval_every": 10},
           task="gan"),
])

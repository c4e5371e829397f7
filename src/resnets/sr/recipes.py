"""The recipes of ``resnets sr train --recipe NAME`` (listed by ``resnets recipes``)."""

from __future__ import annotations

from ..train.recipes import Recipe, register_recipes

EDSR_TRAINING = ("Lim et al. 2017, Sec. 4.2 (48x48 LR patches, batch 16, Adam lr 1e-4 halved "
                 "every 2e5 updates, L1) and the authors' EDSR-PyTorch (300 epochs of 1000 "
                 "updates; 800 DIV2K images)")

register_recipes([
    Recipe("photos-vdsr-x2",
           "a small VDSR (8 layers of 32) at x2 on 32-pixel HR patches of one photo "
           "(`resnets sr photos`)",
           "docs/generative.md (measured on scikit-learn's two sample photos)",
           {"network.name": "vdsr_x2", "network.layers": 8, "network.features": 32,
            "data.patch_size": 16, "data.repeat": 800, "batch_size": 16,
            "iterations": 800, "optim.lr": 1e-3},
           task="super-resolution"),
    Recipe("div2k-edsr-baseline-x2",
           "EDSR-baseline x2 (16 blocks of 64) on DIV2K's 800 training images",
           EDSR_TRAINING,
           {"network.name": "edsr_baseline_x2", "data.patch_size": 48, "data.repeat": 20,
            "batch_size": 16, "iterations": 300_000, "optim.name": "adamw",
            "optim.lr": 1e-4, "optim.weight_decay": 0.0, "schedule.name": "step",
            "schedule.milestones": (200_000,), "schedule.gamma": 0.5},
           task="super-resolution"),
])

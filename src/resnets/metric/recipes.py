"""The recipes of ``resnets metric train --recipe NAME`` (listed by ``resnets recipes``)."""

from __future__ import annotations

from ..train.recipes import Recipe, register_recipes

DIGITS_OPEN_SET = "docs/representation.md (measured on the digits, classes 0-5)"
# The open-set demo: identities 0-5 for training; 6-9 are kept for `resnets verify`.
_DIGITS = {"data.dataset": "digits", "data.classes": "0-5", "model.name": "resnet20",
           "epochs": 15, "batch_size": 64, "optim.lr": 0.05, "schedule.name": "cosine"}

register_recipes([
    Recipe(f"digits-{loss}", f"{loss} embedding of ResNet-20 on digit classes 0-5, 15 epochs "
           "(the open-set demo)", DIGITS_OPEN_SET,
           {**_DIGITS, "metric.loss": loss}, task="metric")
    for loss in ("arcface", "cosface", "triplet", "softmax")
])

"""The recipes of ``resnets metric train --recipe NAME`` (listed by ``resnets recipes``)."""

from __future__ import annotations

from ..train.recipes import Recipe, register_recipes

DIGITS_OPEN_SET = "docs/representation.md (measured on the digits, classes 0-5)"
# The open-set demo: identities 0-5 for training; 6-9 are kept for `resnets verify`. No
# augmentation: shifts of 4 pixels (the digits' default) are half an 8 x 8 image, and with
# them the margin losses did not fit the training identities in 15 epochs (docs).
# Triplet batches: P = 4 of the 6 identities x K = 16 images.
_DIGITS = {"data.dataset": "digits", "data.classes": "0-5", "data.augment": "none",
           "model.name": "resnet20", "epochs": 10, "batch_size": 64, "optim.lr": 0.05,
           "schedule.name": "cosine", "metric.k": 16}

register_recipes([
    Recipe(f"digits-{loss}", f"{loss} embedding of ResNet-20 on digit classes 0-5, 10 epochs "
           "(the open-set demo)", DIGITS_OPEN_SET,
           {**_DIGITS, "metric.loss": loss}, task="metric")
    for loss in ("arcface", "cosface", "triplet", "softmax")
])

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

# The embedding head of face models on both losses: a 64-d projection and a BatchNorm neck
# (arcface_torch's features end in BatchNorm1d), so the embedding is signed. The pooled
# features after ReLU are not: their cosine with a random identity vector w is at most
# |w+| / |w| (about 0.71 in 64-d). ArcFace with margin 0.3: with six identities the 0.5 of
# arcface_torch transferred worse (docs/representation.md lists every seed tried).
_NECK = {**_DIGITS, "metric.dim": 64, "metric.bn_neck": True}
register_recipes([
    Recipe("digits-arcface-neck", "ArcFace (s 64, m 0.3) with a 64-d projection and BN-neck, "
           "ResNet-20 on digit classes 0-5, 10 epochs (the open-set demo)", DIGITS_OPEN_SET,
           {**_NECK, "metric.loss": "arcface", "metric.margin": 0.3}, task="metric"),
    Recipe("digits-softmax-neck", "softmax with the head of digits-arcface-neck (its "
           "baseline)", DIGITS_OPEN_SET, {**_NECK, "metric.loss": "softmax"}, task="metric"),
])

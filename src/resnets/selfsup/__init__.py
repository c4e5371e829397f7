"""Self-supervised pretraining of registry backbones: SimCLR and BYOL (`resnets pretrain`)."""

from . import config  # noqa: F401 (registers the recipes)

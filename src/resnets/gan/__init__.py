"""Residual GANs (``resnets gan train|sample``): SN-GAN's ResNet generator and projection
discriminator (:mod:`resnets.models.gan`) trained with the hinge loss, an EMA of the generator
and two learning rates, scored with a classifier trained by this project."""

from . import recipes  # noqa: F401 (registers the recipes of the GAN task)

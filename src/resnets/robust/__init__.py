"""Adversarial robustness: attacks, robust accuracy, gradient-masking checks, adversarial
training (docs/robustness.md).

Attacks work in [0, 1] pixel space; wrap a network trained on normalised images with
:class:`PixelSpace`. ``resnets attack --checkpoint RUN --eps 8/255`` reports clean and robust
accuracy of a trained run; ``adv.method=pgd|fgsm`` trains adversarially. The attacks are the
engine's (:mod:`resnets.train.attacks`, re-exported here), as is the adversarial-training
objective (:mod:`resnets.train.adversarial`): the engine trains with them.
"""

from ..train.attacks import (NORMS, PixelSpace, fgsm, margin, pgd, pgd_loss_trace,
                             project, square_attack, to_pixels)
from .checks import Check, ensemble_warnings, format_checks, gradient_masking_checks
from .evaluate import ATTACKS, AttackSettings, build_attacks, robust_accuracy

__all__ = [
    "ATTACKS", "AttackSettings", "Check", "NORMS", "PixelSpace", "build_attacks",
    "ensemble_warnings", "fgsm", "format_checks", "gradient_masking_checks", "margin", "pgd",
    "pgd_loss_trace", "project", "robust_accuracy", "square_attack", "to_pixels",
]

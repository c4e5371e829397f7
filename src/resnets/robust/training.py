"""Adversarial training, now :mod:`resnets.train.adversarial` (the engine's objective).

Kept only while ``train.objectives`` imports it from here; it goes once that import reads
``from .adversarial import adversarial_objective``.
"""

from ..train.adversarial import adversarial_objective, restored_buffers

__all__ = ["adversarial_objective", "restored_buffers"]

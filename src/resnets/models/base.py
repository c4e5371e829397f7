"""The surface every model shares (the timm conventions users know).

``forward_features`` -> the last feature map, ``forward_head(pre_logits=...)`` -> pooled
features or logits, ``reset_classifier(num_classes)``, ``feature_info`` and
``forward_intermediates`` for multi-scale backbones, ``set_grad_checkpointing``.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

from ..errors import ResnetsError


@contextlib.contextmanager
def frozen_running_stats(module: nn.Module) -> Iterator[None]:
    """Let BatchNorm run again in training mode, then put its running statistics back.

    Activation checkpointing runs a stage's forward twice; without this, the recomputation in
    the backward pass would update every running mean, variance and batch count a second
    time. Switching ``track_running_stats`` off instead would change which tensors the BN
    saves for backward, and non-reentrant checkpointing rejects a recomputation that saves
    different tensors.
    """
    buffers = [buf for m in module.modules() if isinstance(m, _BatchNorm)
               for buf in (m.running_mean, m.running_var, m.num_batches_tracked)
               if buf is not None]
    saved = [buf.clone() for buf in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in zip(buffers, saved):
                buf.copy_(value)


class ClassifierModel(nn.Module):
    """Base of every model: stages feeding a pooled linear classifier.

    The classifier's attribute is ``head_name``: ``fc`` for ResNets, ``classifier`` for
    DenseNets, as torchvision names them, so their checkpoints load unchanged.
    """

    feature_info: list[dict]
    num_features: int
    grad_checkpointing: bool = False
    head_name: str = "fc"

    def _init_head(self, num_features: int, num_classes: int, drop_rate: float) -> None:
        if num_classes < 0:
            raise ResnetsError(f"num_classes must be >= 0 (0 removes the classifier), "
                               f"got {num_classes}")
        if not 0.0 <= drop_rate < 1.0:
            raise ResnetsError(f"drop_rate must be in [0, 1), got {drop_rate}")
        self.num_features = num_features
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        setattr(self, self.head_name,
                nn.Linear(num_features, num_classes) if num_classes else nn.Identity())

    def run_stage(self, stage: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Run one stage, recomputing its activations in backward when checkpointing is on.

        A stage that is a sequence of blocks is checkpointed block by block: backward then
        holds every block's input plus one block's activations, not a whole stage's (the
        14x14 stage of ResNet-152 alone carries over half of the network's activations).
        """
        if not self.checkpointing_now():
            return stage(x)
        for part in (stage if isinstance(stage, nn.Sequential) else [stage]):
            x = self.recompute_in_backward(part, x, part)
        return x

    def checkpointing_now(self) -> bool:
        """Whether activations are recomputed in this call (training, gradients on)."""
        return self.grad_checkpointing and torch.is_grad_enabled() and self.training

    @staticmethod
    def recompute_in_backward(fn, x: torch.Tensor, owner: nn.Module) -> torch.Tensor:
        """``fn(x)`` keeping only ``x`` for backward; ``owner`` holds the BNs that ``fn`` runs,
        whose running statistics the recomputation must not update a second time."""
        return checkpoint(fn, x, use_reentrant=False, context_fn=lambda: (
            contextlib.nullcontext(), frozen_running_stats(owner)))

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Trade compute for memory: keep only block inputs, recompute the rest in backward."""
        self.grad_checkpointing = enable

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_intermediates(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps described by ``feature_info``, shallowest first."""
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pool, dropout, then the classifier unless ``pre_logits``."""
        x = torch.flatten(self.avgpool(x), 1)
        if self.drop_rate:
            x = nn.functional.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits else self.get_classifier()(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return getattr(self, self.head_name)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a freshly initialised one (0: no classifier)."""
        if num_classes < 0:
            raise ResnetsError(f"num_classes must be >= 0, got {num_classes}")
        self.num_classes = num_classes
        ref = next(self.parameters())  # the new layer matches the model's device and dtype
        setattr(self, self.head_name,
                nn.Linear(self.num_features, num_classes, device=ref.device, dtype=ref.dtype)
                if num_classes else nn.Identity())

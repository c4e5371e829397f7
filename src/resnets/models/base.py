"""The surface every model shares (the timm conventions users know).

``forward_features`` -> the last feature map, ``forward_head(pre_logits=...)`` -> pooled
features or logits, ``reset_classifier(num_classes)``, ``feature_info``,
``forward_intermediates`` and ``prune_intermediate_layers`` for multi-scale backbones
(timm's signatures and semantics), ``set_grad_checkpointing``.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

from ..errors import ResnetsError
from .features import (FeatureStep, Indices, check_output_fmt, feature_take_indices,
                       replace_submodule, to_output_fmt)


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

    feature_info: list[dict]  # the stem's feature point first, then one per stage
    num_features: int
    grad_checkpointing: bool = False
    head_name: str = "fc"
    final_norm_modules: tuple[str, ...] = ()  # what forward_final_norm runs
    kept_features: int | None = None  # feature points left by prune_intermediate_layers

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

    def feature_steps(self) -> list[FeatureStep]:
        """One step per entry of ``feature_info``: step i takes the map of point i - 1 (the
        input for i = 0) to the map of point i."""
        raise NotImplementedError

    def forward_final_norm(self, x: torch.Tensor) -> torch.Tensor:
        """What follows the last feature point in ``forward_features`` (the final BN-ReLU of
        a pre-activation net); nothing by default."""
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for step in self.feature_steps():
            x = step.run(x)
        return self.forward_final_norm(x)

    def forward_intermediates(self, x: torch.Tensor, indices: Indices = None,
                              norm: bool = False, stop_early: bool = False,
                              output_fmt: str = "NCHW", intermediates_only: bool = False,
                              ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """The maps at the feature points ``indices`` names, and the final features (timm's).

        ``indices``: all points if None, the last n if an int, else the listed ones (negative
        from the end); the maps come shallowest first. ``norm`` passes the last point's map
        through the final norm; ``stop_early`` stops at the deepest point taken (the final
        features are then that map); ``output_fmt`` "NHWC" puts channels last. Returns
        ``(forward_features(x), maps)``, or only ``maps`` with ``intermediates_only``.
        """
        take, deepest = self._take_kept(indices)
        check_output_fmt(output_fmt)
        kept = len(self.feature_info) if self.kept_features is None else self.kept_features
        last = len(self.feature_info) - 1
        steps = self.feature_steps()[:deepest + 1 if stop_early else kept]
        maps = []
        for i, step in enumerate(steps):
            x = step.run(x)
            if i == last:  # the final norm is sized for the last point only
                normed = self.forward_final_norm(x)
            if i in take:
                maps.append(to_output_fmt(normed if norm and i == last else x, output_fmt))
        if intermediates_only:
            return maps
        return (normed if len(steps) == last + 1 else x), maps

    def prune_intermediate_layers(self, indices: Indices = 1, prune_norm: bool = False,
                                  prune_head: bool = True) -> list[int]:
        """Remove the layers past the deepest feature point of ``indices`` (timm's).

        Past the last point the final norm goes too (``prune_norm`` removes it anyway), and
        so does the classifier, which ``prune_head`` also removes. Returns the indices kept,
        absolute; later calls of ``forward_intermediates`` must name only kept points.
        """
        take, deepest = self._take_kept(indices)
        for step in self.feature_steps()[deepest + 1:]:
            for name in step.modules:  # an empty Sequential passes its input through
                replace_submodule(self, name, nn.Sequential())
        prune_end = deepest < len(self.feature_info) - 1
        if prune_norm or prune_end:
            for name in self.final_norm_modules:
                replace_submodule(self, name, nn.Sequential())
        if prune_end:  # the head was sized for the last point's channels
            self.num_features = self.feature_info[deepest]["num_chs"]
        if prune_head or prune_end:
            self.reset_classifier(0)
        self.kept_features = deepest + 1
        return take

    def _take_kept(self, indices: Indices) -> tuple[list[int], int]:
        """``feature_take_indices`` over this model, refusing points already pruned away."""
        take, deepest = feature_take_indices(len(self.feature_info), indices)
        if self.kept_features is not None and deepest >= self.kept_features:
            raise ResnetsError(f"feature map {deepest} was pruned by "
                               f"prune_intermediate_layers (maps 0 to "
                               f"{self.kept_features - 1} are left); pass indices of those")
        return take, deepest

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

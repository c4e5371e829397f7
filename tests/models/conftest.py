"""Shared helpers for the model-zoo tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def _randomize_batchnorm(model: nn.Module, resolution: int, seed: int = 0) -> nn.Module:
    """Random BN scales and shifts, then running statistics measured on random images.

    Freshly initialised BN layers are identities in eval mode, so a deep net's activations
    grow block after block and output differences drown in rounding. Measured statistics keep
    eval-mode activations near unit scale, and every state-dict entry takes a distinct value,
    so comparisons exercise the running statistics and the affine parameters too.
    """
    gen = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    with torch.no_grad():
        for m in norms:
            m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=gen))
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
            m.momentum = 1.0  # running stats := this batch's stats
        model.train()
        in_chans = next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels
        model(torch.randn(4, in_chans, resolution, resolution, generator=gen))
    for m in norms:
        m.momentum = 0.1
    return model.eval()


@pytest.fixture
def randomize_batchnorm():
    """``randomize_batchnorm(model, resolution)``: see :func:`_randomize_batchnorm`."""
    return _randomize_batchnorm


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

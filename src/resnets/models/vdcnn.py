"""Very deep character-level convolutional networks for text: VDCNN-9, -17 and -29.

Conneau, Schwenk, Barrault & LeCun, "Very Deep Convolutional Networks for Text
Classification" (EACL 2017, arXiv:1606.01781). The input is 1014 character ids; a lookup
table embeds each in 16 dimensions; a temporal convolution (size 3, 64 maps) is followed by
four stages of convolutional blocks with 64, 128, 256 and 512 maps, max-pooling (size 3,
stride 2) halving the time axis between stages; k-max pooling (k = 8) keeps the 8 largest
activations of every map in their original order, and three fully connected layers
(4096 -> 2048 -> 2048 -> classes) classify. A block is two ``conv(3) -> BN -> ReLU`` layers;
the paper's optional shortcut adds the block input to its output ("B": identity, a 1x1
convolution + BN where the number of maps changes; "A", "C" and "none" as for the ResNets).

Blocks per stage (Table 2): depth 9: 1-1-1-1, depth 17: 2-2-2-2, depth 29: 5-5-2-2.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ResnetsError
from .base import ClassifierModel
from .blocks import canonical_shortcut
from .features import FeatureStep
from .layers import check_probability
from .registry import build, register_model

PAPER = "Conneau et al. 2017, arXiv:1606.01781, Table 2"
SEQUENCE_LENGTH = 1014  # characters per text (Zhang et al. 2015's length, kept by the paper)
EMBEDDING_DIM = 16  # the lookup table's output size
VOCABULARY_SIZE = 71  # default ids: padding, unknown, space and 68 characters (resnets.text)
STAGE_WIDTHS = (64, 128, 256, 512)
DEPTHS = {9: (1, 1, 1, 1), 17: (2, 2, 2, 2), 29: (5, 5, 2, 2), 49: (8, 8, 5, 3)}
AG_NEWS_CLASSES = 4


def _conv(channels_in: int, channels_out: int, size: int = 3) -> nn.Conv1d:
    return nn.Conv1d(channels_in, channels_out, size, padding=size // 2, bias=False)


class ConvBlock(nn.Module):
    """y = ReLU(BN(conv(ReLU(BN(conv(x)))))) + shortcut(x) (Conneau et al. 2017, Fig. 1)."""

    def __init__(self, channels_in: int, channels_out: int, shortcut: str = "B") -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv(channels_in, channels_out), nn.BatchNorm1d(channels_out)
        self.conv2, self.bn2 = _conv(channels_out, channels_out), nn.BatchNorm1d(channels_out)
        self.relu = nn.ReLU(inplace=False)
        self.kind, self.extra = shortcut, channels_out - channels_in
        self.projection = None
        if shortcut == "C" or (shortcut == "B" and self.extra):
            self.projection = nn.Sequential(_conv(channels_in, channels_out, 1),
                                            nn.BatchNorm1d(channels_out))
        elif shortcut == "A" and self.extra < 0:
            raise ResnetsError("shortcut 'A' cannot reduce channels; use shortcut='B'")

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.projection is not None:
            return self.projection(x)
        return F.pad(x, (0, 0, 0, self.extra)) if self.extra else x  # option A: zero maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return y if self.kind == "none" else y + self.shortcut(x)


def k_max_pool(x: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k`` largest values of every map along time, in their original order."""
    if x.shape[-1] < k:
        raise ResnetsError(f"k-max pooling needs at least {k} time steps, got {x.shape[-1]}; "
                           "use longer texts")
    positions = x.topk(k, dim=-1).indices.sort(dim=-1).values
    return x.gather(-1, positions)


class VDCNN(ClassifierModel):
    """VDCNN of Conneau et al. (2017): ``in_chans`` is the vocabulary size (id 0 pads).

    There is no ``zero_init_residual``: the blocks end in a ReLU, so a zeroed BN scale would
    stop them learning.
    """

    def __init__(self, depth: int = 9, num_classes: int = AG_NEWS_CLASSES,
                 in_chans: int = VOCABULARY_SIZE, shortcut: str = "B", k: int = 8,
                 hidden: int = 2048, drop_rate: float = 0.0,
                 grad_checkpointing: bool = False) -> None:
        super().__init__()
        if depth not in DEPTHS:
            raise ResnetsError(f"VDCNN depth must be one of {sorted(DEPTHS)}, got {depth}")
        if in_chans < 2:
            raise ResnetsError(f"in_chans is the vocabulary size (>= 2), got {in_chans}")
        shortcut = canonical_shortcut(shortcut)
        self.in_chans, self.k = in_chans, k
        self.embed = nn.Embedding(in_chans, EMBEDDING_DIM, padding_idx=0)
        self.conv0 = _conv(EMBEDDING_DIM, STAGE_WIDTHS[0])
        stages, width = [], STAGE_WIDTHS[0]
        self.feature_info = [dict(num_chs=width, reduction=1, module="conv0")]
        for i, (blocks, out) in enumerate(zip(DEPTHS[depth], STAGE_WIDTHS)):
            stage = [ConvBlock(width if b == 0 else out, out, shortcut) for b in range(blocks)]
            if i > 0:  # halve the time axis before the wider stage
                stage.insert(0, nn.MaxPool1d(3, stride=2, padding=1))
            stages.append(nn.Sequential(*stage))
            width = out
            self.feature_info.append(dict(num_chs=out, reduction=2 ** i, module=f"stages.{i}"))
        self.stages = nn.ModuleList(stages)
        self._init_head(hidden, num_classes, check_probability("drop_rate", drop_rate))
        self.fc1 = nn.Linear(width * k, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.set_grad_checkpointing(grad_checkpointing)

    def feature_steps(self) -> list[FeatureStep]:
        """The embedding and first convolution (N x 64 x L), then each stage."""
        return [FeatureStep(("embed", "conv0"),
                            lambda tokens: self.conv0(self.embed(tokens).transpose(1, 2))),
                *[FeatureStep((f"stages.{i}",), partial(self.run_stage, stage))
                  for i, stage in enumerate(self.stages)]]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """k-max pooling, then FC(4096, 2048)-ReLU-FC(2048, 2048)-ReLU-FC(2048, classes)."""
        x = torch.flatten(k_max_pool(x, self.k), 1)
        x = F.relu(self.fc2(F.relu(self.fc1(x))))
        if self.drop_rate:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits else self.fc(x)


_KIND = dict(family="vdcnn", input_size=SEQUENCE_LENGTH, num_classes=AG_NEWS_CLASSES,
             reference=PAPER, modality="text", input_shape=(SEQUENCE_LENGTH,))


@register_model(**_KIND)
def vdcnn9(**options) -> VDCNN:
    """VDCNN with 9 convolutional layers (1-1-1-1 blocks)."""
    return build(VDCNN, {"depth": 9}, options, "vdcnn9")


@register_model(**_KIND)
def vdcnn17(**options) -> VDCNN:
    """VDCNN with 17 convolutional layers (2-2-2-2 blocks)."""
    return build(VDCNN, {"depth": 17}, options, "vdcnn17")


@register_model(**_KIND)
def vdcnn29(**options) -> VDCNN:
    """VDCNN with 29 convolutional layers (5-5-2-2 blocks)."""
    return build(VDCNN, {"depth": 29}, options, "vdcnn29")

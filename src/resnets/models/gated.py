"""Gated ResNets: each residual block decides per input whether its branch runs.

ConvNet-AIG (Veit & Belongie, "Convolutional Networks with Adaptive Inference Graphs", ECCV
2018): a tiny gate reads the block's input (global average pool, a 16-unit hidden layer, two
logits "skip" and "execute"). In training the decision is a straight-through Gumbel-softmax
sample: the forward pass uses the hard 0/1 decision, the backward pass the gradient of the
soft one, so the gate learns. In evaluation the decision is the argmax, and the branch is
computed only for the images whose gate is on: the skipped images cost no multiply-accumulates
there, their block output is ReLU(shortcut(x)). ``resnets.train.gates`` adds the target-rate
loss that teaches the gates to run a given fraction of the time, and counts what they spend.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ResnetsError
from .blocks import BasicBlock
from .registry import register_model
from .resnet import ResNet, build_cifar

PAPER = ("Veit & Belongie 2018, Convolutional Networks with Adaptive Inference Graphs "
         "(arXiv:1711.11503)")  # the networks: He et al. 2015's CIFAR ResNets
GATE_HIDDEN = 16  # ConvNet-AIG's gate width
# Logit of "execute" at initialisation: the gates start open (P(on) = sigmoid(3) = 0.95), so
# every block first learns from nearly all the images, and the rate loss closes them from
# there.
OPEN_BIAS = 3.0


class BlockGate(nn.Module):
    """Two logits (skip, execute) from the block's input: pool -> FC -> ReLU -> FC."""

    def __init__(self, in_chs: int, hidden: int = GATE_HIDDEN) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_chs, hidden)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, 2)
        with torch.no_grad():
            self.fc2.bias.copy_(torch.tensor([0.0, OPEN_BIAS]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x.mean((2, 3)))))


def gate_decision(logits: torch.Tensor, training: bool) -> torch.Tensor:
    """Per image 1.0 (execute) or 0.0 (skip): a straight-through Gumbel-softmax sample in
    training (its gradient is the soft sample's), the argmax without noise otherwise."""
    if training:
        return F.gumbel_softmax(logits.float(), tau=1.0, hard=True)[:, 1]
    return (logits[:, 1] > logits[:, 0]).float()


def exporting() -> bool:
    """Tracing for torch.export or ONNX: a program of the forward pass alone."""
    return (torch.compiler.is_exporting() or torch.jit.is_tracing()
            or torch.onnx.is_in_onnx_export())


def tracing() -> bool:
    """Compiling or exporting: no data-dependent shapes there."""
    return torch.compiler.is_compiling() or exporting()


class GatedBasicBlock(BasicBlock):
    """A post-activation basic block with a gate: y = ReLU(shortcut(x) + g(x) F(x)).

    ``decision`` holds the last forward pass's gate decisions (one per image; in training
    they carry the straight-through gradient the rate loss needs). ``forced`` overrides the
    gate: 1.0 runs the branch on every image, 0.0 on none (None: the gate decides).
    """

    def __init__(self, in_chs: int, planes: int, stride: int = 1, **options) -> None:
        super().__init__(in_chs, planes, stride, **options)
        if not self.residual:
            raise ResnetsError("a gated block skips its residual branch to its shortcut, and a "
                               "plain block has none: drop shortcut=none")
        self.gate = BlockGate(in_chs)
        self.decision: torch.Tensor | None = None
        self.forced: float | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = gate_decision(self.gate(x), self.training)
        if self.forced is not None:
            g = torch.full_like(g, self.forced)
        if not exporting():  # an exported program computes the logits and nothing else
            self.decision = g
        shortcut = self.shortcut(x)
        if self.training or tracing():  # every branch computed, then weighted 0 or 1
            fx = self.drop_path(self.branch(x))
            return self.act_out(shortcut + g.to(fx.dtype).view(-1, 1, 1, 1) * fx)
        if self.forced is not None:  # known without looking at the data
            return self.act_out(shortcut + self.branch(x) if self.forced else shortcut)
        if x.is_meta:  # shapes without data (counting MACs): the network with every block
            return self.act_out(shortcut + self.branch(x))
        on = g.nonzero().flatten()
        if len(on) == len(g):
            return self.act_out(shortcut + self.branch(x))
        if len(on) == 0:
            return self.act_out(shortcut)
        # Only the images whose gate is on go through the branch (BN uses running
        # statistics in evaluation, so each image's branch output is what the full batch
        # would give it).
        fx = self.branch(x.index_select(0, on)).to(shortcut.dtype)
        return self.act_out(shortcut.index_add(0, on, fx))


class GatedResNet(ResNet):
    """A ResNet of :class:`GatedBasicBlock` s (options as :class:`ResNet`'s)."""

    def gated_blocks(self) -> list[tuple[str, GatedBasicBlock]]:
        return gated_blocks(self)


def gated_blocks(model: nn.Module) -> list[tuple[str, GatedBasicBlock]]:
    """(name, block) of every gated block of ``model`` (wrapped or not), in network order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, GatedBasicBlock)]


def gate_decisions(model: nn.Module) -> torch.Tensor | None:
    """The last forward pass's decisions, blocks x images, or None for a model without
    gates."""
    blocks = gated_blocks(model)
    if not blocks:
        return None
    missing = [name for name, block in blocks if block.decision is None]
    if missing:
        raise ResnetsError(f"gate {missing[0]} has not decided yet: run the model first")
    return torch.stack([block.decision for _, block in blocks])


_CIFAR = dict(family="gated", input_size=32, num_classes=10, reference=PAPER)


def _build(name: str, depth: int, options: dict, extra: tuple[str, ...] = ()) -> ResNet:
    return build_cifar(name, depth, GatedBasicBlock, "A", options, extra=extra,
                       cls=GatedResNet)


@register_model(**_CIFAR)
def resnet20_gated(**options) -> ResNet:
    """ResNet-20 whose 9 blocks are gated per input (ConvNet-AIG gates, option A)."""
    return _build("resnet20_gated", 20, options)


@register_model(**_CIFAR)
def resnet56_gated(**options) -> ResNet:
    """ResNet-56 whose 27 blocks are gated per input (ConvNet-AIG gates, option A)."""
    return _build("resnet56_gated", 56, options)


@register_model(**_CIFAR)
def resnet110_gated(**options) -> ResNet:
    """ResNet-110 whose 54 blocks are gated per input (ConvNet-AIG gates, option A)."""
    return _build("resnet110_gated", 110, options)


@register_model(**_CIFAR)
def cifar_resnet_gated(depth: int = 20, **options) -> ResNet:
    """A gated CIFAR ResNet of any depth 6n+2 (option A shortcuts unless ``shortcut`` says)."""
    return _build("cifar_resnet_gated", depth, options, extra=("depth",))

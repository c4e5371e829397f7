"""Structured pruning of residual branches: whole channels out, a smaller dense network left.

Only the channels *inside* a residual branch are removed (between conv1 and conv2 of a basic
block; between conv1, conv2 and conv3 of a bottleneck), so every block keeps its input and
output width and the shortcuts of a stage stay consistent with no bookkeeping. A channel is
scored by the L1 norm of the filter that makes it (Li et al. 2017, "Pruning Filters for
Efficient ConvNets") or by the scale of the BatchNorm that normalises it (Liu et al. 2017,
"Learning Efficient Convolutional Networks through Network Slimming"; train with
``model.bn_l1`` to make those scales sparse). The least important channels of the whole
network go first until its MACs fall to the target.

The result is recorded as ``model.branch_widths`` (one width per inner layer, block by block),
so the registry rebuilds the pruned network from its name and those widths: nothing pickled.
A grouped 3x3 (ResNeXt) loses the same local channel in every group, so each group keeps as
many channels as the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ResnetsError
from ..models.resnet import ResNet

CRITERIA = ("l1", "bn")  # l1: filter norms (Li et al.); bn: BN scales (network slimming)


@dataclass(frozen=True)
class ChannelSet:
    """The channels between two convolutions of one residual branch."""

    block: str  # the block's module path, e.g. "layer2.0"
    producer: str  # the convolution whose output channels these are, e.g. "conv1"
    consumer: str  # the convolution that reads them, e.g. "conv2"
    norm: str  # the BatchNorm that normalises them (bn1 after conv1; pre-activation: bn2)
    width: int
    groups: int  # channels go in groups of the grouped 3x3 next to them (1 for none)


def channel_sets(model: nn.Module) -> list[ChannelSet]:
    """Every prunable set of channels of ``model``, block by block."""
    if not isinstance(model, ResNet):
        raise ResnetsError(f"resnets prune removes channels of ResNet-family networks (resnet, "
                           f"preact, wrn, resnext, senet), not {type(model).__name__}")
    sets = []
    for stage_name, stage in zip(model.stage_names, model.stages()):
        for i, blk in enumerate(stage):
            for layer in range(1, getattr(blk, "inner_layers", 0) + 1):
                producer, consumer = getattr(blk, f"conv{layer}"), getattr(blk, f"conv{layer + 1}")
                norm = f"bn{layer + 1}" if blk.preact else f"bn{layer}"
                if not isinstance(getattr(blk, norm), nn.BatchNorm2d):
                    raise ResnetsError("resnets prune needs BatchNorm in the residual branches; "
                                       "this network has none (model.norm=group?)")
                sets.append(ChannelSet(f"{stage_name}.{i}", f"conv{layer}", f"conv{layer + 1}",
                                       norm, producer.out_channels,
                                       max(producer.groups, consumer.groups)))
    if not sets:
        raise ResnetsError("this network has no residual branch with channels to prune")
    return sets


def unit_scores(model: nn.Module, cs: ChannelSet, criterion: str) -> torch.Tensor:
    """One score per prunable unit of ``cs``: its local channel index in every group."""
    if criterion not in CRITERIA:
        raise ResnetsError(f"unknown pruning criterion {criterion!r}; use l1 (filter norms) or "
                           "bn (BatchNorm scales, network slimming)")
    blk = model.get_submodule(cs.block)
    if criterion == "l1":
        per_channel = getattr(blk, cs.producer).weight.detach().abs().flatten(1).sum(1)
    else:
        per_channel = getattr(blk, cs.norm).weight.detach().abs()
    units = per_channel.float().reshape(cs.groups, cs.width // cs.groups).sum(0)
    if criterion == "l1":  # filter norms scale differently from layer to layer
        units = units / units.mean().clamp_min(1e-12)
    return units


@dataclass(frozen=True)
class ConvCost:
    """What one convolution of a branch costs, given the widths of the sets it touches."""

    macs_per_channel_pair: float  # output pixels x kernel area / groups
    in_set: int | None  # the index of the set it reads (None: the block's input)
    out_set: int | None  # the index of the set it writes (None: the block's output)
    in_chs: int
    out_chs: int

    def macs(self, widths: list[int]) -> float:
        cin = self.in_chs if self.in_set is None else widths[self.in_set]
        cout = self.out_chs if self.out_set is None else widths[self.out_set]
        return self.macs_per_channel_pair * cin * cout


def conv_costs(model: nn.Module, sets: list[ChannelSet], image_size: int,
               in_chans: int) -> list[ConvCost]:
    """The costs of every convolution that reads or writes a prunable set, measured at
    ``image_size`` (one forward pass to learn each convolution's output size)."""
    touching: dict[str, list] = {}
    for index, cs in enumerate(sets):
        touching.setdefault(f"{cs.block}.{cs.producer}", [None, None])[1] = index
        touching.setdefault(f"{cs.block}.{cs.consumer}", [None, None])[0] = index
    pixels: dict[str, int] = {}
    hooks = [model.get_submodule(name).register_forward_hook(
        lambda m, i, out, name=name: pixels.__setitem__(name, out.shape[-1] * out.shape[-2]))
        for name in touching]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, in_chans, image_size, image_size))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    costs = []
    for name, (in_set, out_set) in touching.items():
        conv = model.get_submodule(name)
        area = conv.kernel_size[0] * conv.kernel_size[1]
        costs.append(ConvCost(pixels[name] * area / conv.groups, in_set, out_set,
                              conv.in_channels, conv.out_channels))
    return costs


@dataclass(frozen=True)
class PrunePlan:
    """Which local channels of each set are kept, and what that costs."""

    sets: list[ChannelSet]
    kept: list[torch.Tensor]  # per set: the kept local indices (ascending)
    macs_before: int
    macs_after: int  # estimated from the convolutions' costs

    @property
    def branch_widths(self) -> tuple[int, ...]:
        return tuple(len(k) * cs.groups for cs, k in zip(self.sets, self.kept))


def plan_pruning(model: nn.Module, target: float, criterion: str, image_size: int,
                 in_chans: int, total_macs: int) -> PrunePlan:
    """Keep the most important channels such that the MACs are at most ``target`` times
    ``total_macs`` (the whole network's): the globally least important units go first, and
    every set keeps at least one unit."""
    if not 0 < target < 1:
        raise ResnetsError(f"--target-macs {target} must be a fraction between 0 and 1 "
                           "(0.5 keeps half the MACs)")
    sets = channel_sets(model)
    scores = [unit_scores(model, cs, criterion) for cs in sets]
    costs = conv_costs(model, sets, image_size, in_chans)
    full = [cs.width for cs in sets]
    fixed = total_macs - sum(c.macs(full) for c in costs)  # stem, shortcuts, head, ...
    flat = [(float(s), index, unit) for index, units in enumerate(scores)
            for unit, s in enumerate(units)]
    flat.sort()
    left = [len(units) for units in scores]
    order = []  # the units in the order they go, none that would empty its set
    for _, index, unit in flat:
        if left[index] > 1:
            left[index] -= 1
            order.append((index, unit))

    def widths_after(removed: int) -> list[int]:
        widths = list(full)
        for index, _ in order[:removed]:
            widths[index] -= sets[index].groups
        return widths

    def macs_after(removed: int) -> float:
        return fixed + sum(c.macs(widths_after(removed)) for c in costs)

    goal = target * total_macs
    if macs_after(len(order)) > goal:
        floor = macs_after(len(order)) / total_macs
        raise ResnetsError(f"--target-macs {target} is out of reach: removing all but one "
                           f"channel of every residual branch leaves {floor:.2f} of the MACs")
    low, high = 0, len(order)  # the fewest removals that reach the goal
    while low < high:
        mid = (low + high) // 2
        if macs_after(mid) <= goal:
            high = mid
        else:
            low = mid + 1
    dropped: list[set[int]] = [set() for _ in sets]
    for index, unit in order[:low]:
        dropped[index].add(unit)
    kept = [torch.tensor([u for u in range(len(units)) if u not in dropped[i]])
            for i, units in enumerate(scores)]
    return PrunePlan(sets, kept, total_macs, round(macs_after(low)))


def pruned_state_dict(model: nn.Module, plan: PrunePlan) -> dict[str, torch.Tensor]:
    """``model``'s weights with the pruned channels cut out: the state dict of the network
    built with ``plan.branch_widths``."""
    cuts: dict[str, list[tuple[int, torch.Tensor]]] = {}
    for cs, local in zip(plan.sets, plan.kept):
        per_group = cs.width // cs.groups
        channels = torch.cat([g * per_group + local for g in range(cs.groups)])
        blk = model.get_submodule(cs.block)
        cuts.setdefault(f"{cs.block}.{cs.producer}.weight", []).append((0, channels))
        for tensor in ("weight", "bias", "running_mean", "running_var"):
            cuts.setdefault(f"{cs.block}.{cs.norm}.{tensor}", []).append((0, channels))
        grouped = getattr(blk, cs.consumer).groups > 1  # it reads local indices per group
        cuts.setdefault(f"{cs.block}.{cs.consumer}.weight", []).append(
            (1, local if grouped else channels))
    state = {}
    for key, tensor in model.state_dict().items():
        for dim, index in cuts.get(key, ()):
            tensor = tensor.index_select(dim, index)
        state[key] = tensor.clone()
    return state

"""Training and measuring gated ResNets (``resnets.models.gated``).

Training adds ConvNet-AIG's target-rate loss to the task's objective (Veit & Belongie 2018,
Sec. 3.3): ``gate.weight`` x the mean over gates of (rate - ``gate.target``)^2, where a gate's
rate is the fraction of the batch it executes (its straight-through decisions, so the loss
reaches the gate's weights). Evaluation counts, per block, the fraction of images it ran on,
and the multiply-accumulates each image really cost: the network's fixed part (stem, gates,
shortcuts, head) plus the branches of the blocks it executed.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from ..errors import ResnetsError
from ..models.gated import gate_decisions, gated_blocks
from ..models.summary import count_macs
from .evaluate import batch_to_device

NOISE_SEED = 0  # the Gaussian noise of a noised evaluation, the same for every model
NOISE = 0.25  # its default standard deviation, pixel units (images in [0, 1])


def rate_loss(decisions: torch.Tensor, target: float) -> torch.Tensor:
    """Mean over gates of (fraction of the batch executed - target)^2; blocks x images in."""
    return ((decisions.float().mean(1) - target) ** 2).mean()


def with_rate_loss(objective, target: float, weight: float):
    """``objective(net, images, labels)`` plus the rate loss of the net's gates (if any)."""

    def gated(net, images, labels):
        loss, logits = objective(net, images, labels)
        decisions = gate_decisions(net)
        if decisions is None or not weight:
            return loss, logits
        return loss + weight * rate_loss(decisions, target), logits

    return gated


def block_costs(model: nn.Module, resolution: int, in_chans: int) -> tuple[int, list[int]]:
    """(MACs every image pays, MACs of each gated block's branch) for one image.

    The branch of a block costs what the whole network costs with every gate on, less what
    it costs with that block skipped (counted on meta tensors, models/summary.py).
    """
    blocks = [block for _, block in gated_blocks(model)]
    try:
        for block in blocks:
            block.forced = 1.0
        full = count_macs(model, resolution, in_chans)
        branches = []
        for block in blocks:
            block.forced = 0.0
            branches.append(full - count_macs(model, resolution, in_chans))
            block.forced = 1.0
    finally:
        for block in blocks:
            block.forced = None
    return full - sum(branches), branches


@torch.no_grad()
def gate_statistics(model: nn.Module, batches: Iterable, device: torch.device,
                    costs: tuple[int, list[int]], noise: float = 0.0,
                    std: tuple[float, ...] = (1.0,)) -> dict:
    """Accuracy, the fraction of images each gated block ran on (and their mean), and the
    MACs spent per image (mean, min, max; the network with every gate on for comparison),
    from the model's :func:`block_costs` ``costs``.

    ``noise`` > 0 adds Gaussian noise of that standard deviation in pixel units (images in
    [0, 1]; ``std`` the loader's normalisation) to every image, drawn from a fixed seed.
    """
    fixed, branches = costs
    was_training = model.training
    model.eval()
    generator = torch.Generator(device="cpu").manual_seed(NOISE_SEED)
    scale = torch.tensor(std).view(1, -1, 1, 1)
    executed, correct, seen, macs = None, 0, 0, []
    for batch in batches:
        images, labels = batch
        if noise:
            draw = torch.randn(images.shape, generator=generator) * noise / scale
            images = images + draw.to(images.device)
        images, labels = batch_to_device(images, labels, device, False)
        correct += int((model(images).argmax(1) == labels).sum())
        seen += len(labels)
        on = gate_decisions(model).cpu()  # blocks x images
        executed = on.sum(1) if executed is None else executed + on.sum(1)
        macs.append(fixed + (torch.tensor(branches, dtype=torch.float64) @ on.double()))
    model.train(was_training)
    per_block = (executed / max(seen, 1)).tolist()
    spent = torch.cat(macs)
    return {"images": seen, "noise": noise, "accuracy": correct / max(seen, 1),
            "executed_per_block": per_block,
            "executed_mean": sum(per_block) / len(per_block),
            "macs_per_image": float(spent.mean()), "macs_min": float(spent.min()),
            "macs_max": float(spent.max()), "macs_all_blocks": fixed + sum(branches)}


def check_noise(model: nn.Module, noise: float | None) -> float | None:
    """The noise of a gated model's second evaluation (None: the model has no gates)."""
    if not gated_blocks(model):
        if noise is not None:
            raise ResnetsError("--noise measures how often a gated model's blocks run on noised "
                               "images, and this model has no gates; drop --noise")
        return None
    return NOISE if noise is None else noise


def gates_report(model: nn.Module, batches, device: torch.device, state: dict,
                 noise: float) -> dict:
    """:func:`gate_statistics` of a trained model's run on ``batches``, clean and noised."""
    costs, std = block_costs(model, state["image_size"], state["in_chans"]), tuple(state["std"])
    return {"clean": gate_statistics(model, batches, device, costs, 0.0, std),
            "noised": gate_statistics(model, batches, device, costs, noise, std)}


def gate_lines(gates: dict) -> list[str]:
    """What ``resnets evaluate`` prints of a gates report."""
    lines = []
    for kind, stats in gates.items():
        name = "clean" if not stats["noise"] else f"noise {stats['noise']:g}"
        lines.append(f"gates ({name}): {100 * stats['executed_mean']:.1f}% of blocks run, "
                     f"{stats['macs_per_image'] / 1e6:.2f}M MACs per image (every block: "
                     f"{stats['macs_all_blocks'] / 1e6:.2f}M), accuracy "
                     f"{100 * stats['accuracy']:.2f}%")
    return lines

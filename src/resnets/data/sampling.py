"""Which samples an epoch serves, with repeated augmentation, and each process's share.

Repeated augmentation (Hoffer et al. 2020, "Augment your batch"; Berman et al. 2019; used by
DeiT, torchvision's and timm's ImageNet recipes): each drawn image is served ``repeats`` times
in a row, so its copies land in the same global batch, each augmented on its own (copy ``c``
of an image has its own seed). As in timm's ``RepeatAugSampler``, an epoch keeps its length
in samples: it serves as many samples as without repetition (whole global batches of them),
and so draws only about ``1 / repeats`` of the dataset's images, a different share each epoch
as the order is reshuffled. Unlike timm, the epoch is not rounded down to a multiple of 256.

Several processes: each global batch is split into ``world_size`` disjoint shares. With
repeats the shares are strided (process ``r`` takes positions ``r, r + W, ...``), so the copies
of one image go to different processes, as DeiT's and timm's samplers spread them; without
repeats they are contiguous, as before.
"""

from __future__ import annotations

import math

import torch

from ..errors import DataError

REPEATS_MAX = 16  # data.repeated_aug: copies of each image per epoch


def epoch_samples(order: torch.Tensor, repeats: int, length: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(sample indices, copy numbers) of an epoch of ``length`` samples drawn from ``order``:
    each of its first ``ceil(length / repeats)`` indices ``repeats`` times in a row."""
    if not 1 <= repeats <= REPEATS_MAX:
        raise DataError(f"repeated augmentation needs 1..{REPEATS_MAX} copies per image, got "
                        f"{repeats} (data.repeated_aug)")
    if not 0 <= length <= len(order):
        raise DataError(f"an epoch of {length} samples does not fit {len(order)} samples")
    drawn = math.ceil(length / repeats)
    indices = order[:drawn].repeat_interleave(repeats)[:length]
    copies = torch.arange(repeats, device=order.device).repeat(drawn)[:length]
    return indices, copies


def rank_share(chunk: torch.Tensor, rank: int, world_size: int, spread: bool) -> torch.Tensor:
    """Process ``rank``'s disjoint share of the global batch ``chunk`` (its last dimension:
    a row per step may come at once): strided when ``spread`` (the copies of an image go to
    different processes), else contiguous."""
    if spread:
        return chunk[..., rank::world_size]
    # A short last batch is shared out as evenly as it can be.
    return torch.tensor_split(chunk, world_size, dim=-1)[rank]

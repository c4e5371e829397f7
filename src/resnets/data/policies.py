"""Augmentation policies from ``torchvision.transforms.v2``, one independent draw per image.

The policies (``data.policy``): TrivialAugmentWide (Mueller & Hutter 2021), RandAugment
(Cubuk et al. 2020: ``num_ops`` ops at ``magnitude`` out of 31 bins), AutoAugment (Cubuk et al.
2019: the ImageNet, CIFAR-10 or SVHN policy) and AugMix (Hendrycks et al. 2020); RandomErasing
(Zhong et al. 2020) after them with probability ``data.erasing``. The ops are torchvision's.

Why one image at a time: a v2 transform given an N x C x H x W batch draws its random choices
once and applies them to the whole batch (TrivialAugmentWide picks one op and one magnitude
for all N images; RandomErasing erases the same box of every image or of none), so the batch
would be one augmentation seen N times. Grouping images by a drawn op would need the ops
re-implemented outside torchvision. So each image is transformed on its own, on the training
device (in-memory data) or in the loader workers (image folders), under its own seed.

Why seeded per image: v2 draws from torch's global generators. Every image's draws are made
under a seed derived from (run seed, epoch, dataset index, copy number) inside a fork of the
CPU and device generators, so (1) the global generators are left as they were (mixup and
dropout draw the same numbers with or without a policy), (2) an image's augmentation does not
depend on the batch, the process or the worker it lands in, and (3) a run resumed mid-epoch
sees exactly the images it would have seen without the interruption.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torchvision.transforms import v2

from ..errors import DataError, did_you_mean
from .base import derive_seed

POLICIES = ("none", "trivialaugment", "randaugment", "autoaugment", "augmix")  # data.policy
AUTOAUGMENT_POLICIES = ("imagenet", "cifar10", "svhn")  # data.autoaugment_policy
MAGNITUDE_BINS = 31  # torchvision's default number of magnitude levels, 0..30
POLICY_STREAM = 7  # tells the per-image seeds apart from the loader's other streams


def policy_transform(name: str, randaugment_ops: int = 2, randaugment_magnitude: int = 9,
                     autoaugment_policy: str = "imagenet", augmix_severity: int = 3
                     ) -> v2.Transform | None:
    """The v2 transform of policy ``name`` for one uint8 C x H x W image (None for "none")."""
    if name not in POLICIES:
        raise DataError(f"unknown augmentation policy {name!r}{did_you_mean(name, POLICIES)}; "
                        f"choose one of {', '.join(POLICIES)} (data.policy)")
    if not 0 <= randaugment_magnitude < MAGNITUDE_BINS:
        raise DataError(f"RandAugment magnitude must be in 0..{MAGNITUDE_BINS - 1}, got "
                        f"{randaugment_magnitude} (data.randaugment_magnitude)")
    if autoaugment_policy not in AUTOAUGMENT_POLICIES:
        raise DataError(f"unknown AutoAugment policy {autoaugment_policy!r}; choose one of "
                        f"{', '.join(AUTOAUGMENT_POLICIES)} (data.autoaugment_policy)")
    if name == "trivialaugment":
        return v2.TrivialAugmentWide()
    if name == "randaugment":
        return v2.RandAugment(num_ops=randaugment_ops, magnitude=randaugment_magnitude)
    if name == "autoaugment":
        return v2.AutoAugment(v2.AutoAugmentPolicy(autoaugment_policy))
    if name == "augmix":
        return v2.AugMix(severity=augmix_severity)
    return None


def erasing_transform(probability: float, value: float | Sequence[float] = 0.0
                      ) -> v2.RandomErasing | None:
    """RandomErasing of one float image with ``probability`` (None for 0), the box filled
    with ``value`` (per channel)."""
    if not 0 <= probability <= 1:
        raise DataError(f"the erasing probability must be in [0, 1], got {probability} "
                        "(data.erasing)")
    if probability == 0:
        return None
    fill = [float(v) for v in value] if isinstance(value, Sequence) else float(value)
    return v2.RandomErasing(p=probability, value=fill)


def image_seed(seed: int, epoch: int, index: int, copy: int) -> int:
    """The seed of one image's draws: a function of the run, epoch, sample and copy only."""
    return derive_seed(seed, epoch, index, copy, POLICY_STREAM)


def _cuda_index(device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    return device.index if device.index is not None else torch.cuda.current_device()


@contextlib.contextmanager
def forked_rng(device: torch.device) -> Iterator[None]:
    """Run the block on copies of the CPU generator and of ``device``'s, restored after."""
    index = _cuda_index(device)
    with torch.random.fork_rng(devices=[] if index is None else [index], device_type="cuda"):
        yield


def seed_all(seed: int, device: torch.device) -> None:
    """Seed the CPU generator and ``device``'s (not every GPU's, as torch.manual_seed would)."""
    torch.default_generator.manual_seed(seed)
    index = _cuda_index(device)
    if index is not None:
        torch.cuda.default_generators[index].manual_seed(seed)


class PerImagePolicy:
    """The policy and erasing of a uint8 N x C x H x W batch, each image under its own seed.

    ``fill`` is the value erased boxes get on the 0..1 scale: the dataset's channel mean, so
    that after normalisation they are 0, as torchvision's recipe erases normalised images.
    Returns the batch as float32 on the 0..1 scale.
    """

    def __init__(self, policy: v2.Transform | None, erasing: float = 0.0,
                 fill: Sequence[float] = (0.0,)) -> None:
        self.policy, self.erase = policy, erasing_transform(erasing, list(fill))

    def __call__(self, batch: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        if batch.dtype != torch.uint8 or batch.dim() != 4 or len(seeds) != len(batch):
            raise DataError(f"a policy needs a uint8 N x C x H x W batch and one seed per "
                            f"image, got {batch.dtype} {tuple(batch.shape)} and {len(seeds)}")
        out = torch.empty(batch.shape, dtype=torch.float32, device=batch.device)
        with forked_rng(batch.device):
            for k, seed in enumerate(seeds):
                seed_all(seed, batch.device)
                out[k] = self.one(batch[k])
        return out

    def one(self, image: torch.Tensor) -> torch.Tensor:
        """Policy, then 0..1 float, then erasing, of one uint8 C x H x W image."""
        if self.policy is not None:
            image = self.policy(image)
        image = v2.functional.to_dtype(image, torch.float32, scale=True)  # as folders convert
        return self.erase(image) if self.erase is not None else image

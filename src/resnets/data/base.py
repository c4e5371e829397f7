"""The in-memory dataset every small reader returns, and a seeded class-stratified split.

CIFAR, digits and the synthetic set all fit in memory as one uint8 tensor, so they share one
container: :class:`ArrayDataset`. Keeping pixels as uint8 (4x smaller than float32) lets the
loader hold a whole dataset on the training device and convert batch by batch. Samples that
are not images (int16 speech clips, text as token ids) are :class:`Samples`, with the same
surface for the loader and the split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import DataError


@dataclass
class ArrayDataset:
    """Images and integer labels held as tensors, with the class names in label order."""

    images: torch.Tensor  # uint8, N x C x H x W, pixel values 0..255
    labels: torch.Tensor  # int64, N, each in 0..len(classes)-1
    classes: list[str]  # name of class k at index k

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(f"images must be a uint8 N x C x H x W tensor, got "
                            f"{self.images.dtype} of shape {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.dim() != 1:
            raise DataError(f"labels must be an int64 vector, got {self.labels.dtype} of "
                            f"shape {tuple(self.labels.shape)}")
        if len(self.labels) != len(self.images):
            raise DataError(f"{len(self.images)} images but {len(self.labels)} labels")
        if len(self.labels) and (int(self.labels.min()) < 0
                                 or int(self.labels.max()) >= len(self.classes)):
            raise DataError(f"labels must lie in 0..{len(self.classes) - 1} "
                            f"(one per class name), got {int(self.labels.min())}.."
                            f"{int(self.labels.max())}")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """One (C x H x W uint8 image, label) pair, so the set also works as a torch Dataset."""
        return self.images[index], int(self.labels[index])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, indices: Sequence[int] | torch.Tensor) -> ArrayDataset:
        """A new dataset with the samples at ``indices`` (in that order), same classes."""
        index = torch.as_tensor(indices, dtype=torch.long)
        if index.numel() and (int(index.min()) < -len(self) or int(index.max()) >= len(self)):
            raise DataError(f"subset index out of range for a dataset of {len(self)} samples")
        return ArrayDataset(self.images[index], self.labels[index], list(self.classes))


@dataclass
class Samples:
    """Per-sample tensors (N x ...), int64 labels (N) and the class names in label order."""

    images: torch.Tensor  # int16 clips or int64 token ids: whatever the loader serves
    labels: torch.Tensor
    classes: list[str]

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise DataError(f"{len(self.images)} samples but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices: Sequence[int] | torch.Tensor) -> Samples:
        index = torch.as_tensor(indices, dtype=torch.long)
        return Samples(self.images[index], self.labels[index], list(self.classes))


def split_train_val(ds: ArrayDataset, val_size: int, seed: int
                    ) -> tuple[ArrayDataset, ArrayDataset]:
    """Hold out ``val_size`` samples, stratified by class, chosen by ``seed``.

    Each class gives up a share of the validation set proportional to its size (largest
    remainders get the leftover places), so CIFAR-10's 45k/5k split holds out exactly 500
    images per class. Both parts keep the original sample order; the same seed always
    selects the same samples.
    """
    if not 0 <= val_size < len(ds):
        raise DataError(f"val_size must be in 0..{len(ds) - 1} for a dataset of {len(ds)} "
                        f"samples, got {val_size}")
    counts = torch.bincount(ds.labels, minlength=ds.num_classes)
    quotas = _proportional_quotas(counts, val_size)
    generator = torch.Generator().manual_seed(seed)
    is_val = torch.zeros(len(ds), dtype=torch.bool)
    for label, quota in enumerate(quotas.tolist()):
        members = torch.nonzero(ds.labels == label).flatten()
        chosen = torch.randperm(len(members), generator=generator)[:quota]
        is_val[members[chosen]] = True
    return ds.subset(torch.nonzero(~is_val).flatten()), ds.subset(torch.nonzero(is_val).flatten())


def _proportional_quotas(counts: torch.Tensor, total: int) -> torch.Tensor:
    """Split ``total`` places over classes in proportion to ``counts`` (largest remainder)."""
    exact = counts.double() * total / counts.sum().double()
    quotas = exact.floor().long()
    leftover = total - int(quotas.sum())
    # Ties go to the lower class index: a stable sort keeps the order deterministic.
    order = torch.sort(exact - quotas, descending=True, stable=True).indices
    quotas[order[:leftover]] += 1
    return quotas


def derive_seed(*parts: int) -> int:
    """A 63-bit seed that depends on every part, e.g. ``derive_seed(seed, epoch, batch)``.

    Hashing (rather than ``seed + epoch``) keeps streams for nearby tuples unrelated and is
    stable across Python versions and processes, unlike ``hash()``.
    """
    text = ",".join(str(int(part)) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1

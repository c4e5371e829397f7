"""The published ImageNet weights of torchvision, fetched through torch.hub's cache.

Every file is named ``<model>-<first hex digits of its SHA-256>.pth`` (torch.hub's
convention), so the name itself says what the content must hash to: a download is checked
against it (``check_hash``), and so is a file that is already in the cache, since offline users
put files there by hand. The cache is torch.hub's, ``$TORCH_HOME/hub/checkpoints``
(``~/.cache/torch/hub/checkpoints`` by default), shared with torchvision: weights it has
downloaded are found here without a second download.

Our ResNets, wide ResNets and ResNeXts use torchvision's parameter names; the DenseNet files
predate PyTorch's ban on dots in module names and are renamed on loading
(:func:`resnets.models.mapping.convert_state_dict`).
:func:`~resnets.models.registry.create_pretrained` builds a model and loads them.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError, ResnetsError, did_you_mean, first_line
from ..weights import load_error

TORCHVISION_MODELS = "https://download.pytorch.org/models/"
TAGS = ("v1", "v2")  # v1: the original recipes; v2: torchvision's 2021 training recipe
IMAGENET = "imagenet"  # weights="imagenet[:TAG]" names these weights
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.")  # torch.hub's naming convention
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # per-channel RGB mean of ImageNet train, 0..1 scale
IMAGENET_STD = (0.229, 0.224, 0.225)  # per-channel RGB std of ImageNet train, 0..1 scale


@dataclass(frozen=True)
class PublishedWeights:
    """One file of published weights, how its inputs are prepared, and what its publisher
    measured with it (torchvision's weights enums carry the same facts: a test compares)."""

    model: str  # our registry name (torchvision's model name)
    tag: str  # v1 | v2: which of torchvision's weight sets
    file_name: str  # <model>-<sha256 prefix>.pth
    top1: float  # ImageNet-1k validation top-1 accuracy as published by torchvision, %
    top5: float  # the same, top-5, %
    resize: int  # evaluation: the shorter side is resized to this, pixels (bilinear)
    crop: int = 224  # evaluation: then the centre crop of this side, pixels
    interpolation: str = "bilinear"  # of the resize
    mean: tuple[float, ...] = IMAGENET_MEAN  # normalisation of the 0..1 RGB input
    std: tuple[float, ...] = IMAGENET_STD

    @property
    def url(self) -> str:
        return TORCHVISION_MODELS + self.file_name

    @property
    def hash_prefix(self) -> str:
        """The leading hex digits of the file's SHA-256, taken from its name."""
        match = _HASH_IN_NAME.search(self.file_name)
        if match is None:
            raise ResnetsError(f"{self.file_name!r} carries no hash prefix in its name")
        return match.group(1)


def _v1(model: str, file_name: str, top1: float, top5: float) -> PublishedWeights:
    return PublishedWeights(model, "v1", file_name, top1, top5, resize=256)


def _v2(model: str, file_name: str, top1: float, top5: float) -> PublishedWeights:
    return PublishedWeights(model, "v2", file_name, top1, top5, resize=232)


# torchvision's IMAGENET1K_V1 and IMAGENET1K_V2 weights (torchvision/models/resnet.py and
# densenet.py), with the top-1/top-5 accuracies its model cards list and its evaluation
# resize (V1: 256, V2: 232), each followed by a 224 centre crop.
PUBLISHED: dict[tuple[str, str], PublishedWeights] = {
    (w.model, w.tag): w for w in [
        _v1("resnet18", "resnet18-f37072fd.pth", 69.758, 89.078),
        _v1("resnet34", "resnet34-b627a593.pth", 73.314, 91.420),
        _v1("resnet50", "resnet50-0676ba61.pth", 76.130, 92.862),
        _v2("resnet50", "resnet50-11ad3fa6.pth", 80.858, 95.434),
        _v1("resnet101", "resnet101-63fe2227.pth", 77.374, 93.546),
        _v2("resnet101", "resnet101-cd907fc2.pth", 81.886, 95.780),
        _v1("resnet152", "resnet152-394f9c45.pth", 78.312, 94.046),
        _v2("resnet152", "resnet152-f82ba261.pth", 82.284, 96.002),
        _v1("resnext50_32x4d", "resnext50_32x4d-7cdf4587.pth", 77.618, 93.698),
        _v2("resnext50_32x4d", "resnext50_32x4d-1a0047aa.pth", 81.198, 95.340),
        _v1("resnext101_32x8d", "resnext101_32x8d-8ba56ff5.pth", 79.312, 94.526),
        _v2("resnext101_32x8d", "resnext101_32x8d-110c445d.pth", 82.834, 96.228),
        _v1("wide_resnet50_2", "wide_resnet50_2-95faca4d.pth", 78.468, 94.086),
        _v2("wide_resnet50_2", "wide_resnet50_2-9ba9bcbe.pth", 81.602, 95.758),
        _v1("wide_resnet101_2", "wide_resnet101_2-32ee1156.pth", 78.848, 94.284),
        _v2("wide_resnet101_2", "wide_resnet101_2-d733dc28.pth", 82.510, 96.020),
        _v1("densenet121", "densenet121-a639ec97.pth", 74.434, 91.972),
        _v1("densenet161", "densenet161-8d451a50.pth", 77.138, 93.560),
        _v1("densenet169", "densenet169-b2777c0a.pth", 75.600, 92.806),
        _v1("densenet201", "densenet201-c1103571.pth", 76.896, 93.370),
    ]
}


def parse_weights_spec(spec: str, option: str = "weights") -> str | None:
    """The tag that ``spec`` asks for ("imagenet" -> "v1", "imagenet:v2" -> "v2"), or None
    when ``spec`` names something else (a file, a run directory)."""
    name, sep, tag = spec.partition(":")
    if name.lower() != IMAGENET:
        return None
    if sep and tag not in TAGS:
        raise ResnetsError(f"{option}={spec!r}: the tag after 'imagenet:' is one of "
                           f"{', '.join(TAGS)}")
    return tag or "v1"


@functools.cache
def imagenet_classes() -> tuple[str, ...]:
    """ImageNet-1k's 1,000 class names in label order, as torchvision's weights carry them."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def weight_tags(name: str) -> tuple[str, ...]:
    """The tags of the published weights of model ``name`` ("v1", "v2"); () when none."""
    return tuple(tag for tag in TAGS if (name, tag) in PUBLISHED)


def models_with_weights() -> list[str]:
    """Every model name that has published weights, in the table's order."""
    return list(dict.fromkeys(model for model, _ in PUBLISHED))


def published_weights(name: str, tag: str = "v1") -> PublishedWeights:
    """The table entry of ``name``'s ``tag`` weights; a model without them raises."""
    if tag not in TAGS:
        raise ResnetsError(f"unknown weights tag {tag!r}{did_you_mean(tag, TAGS)}; "
                           f"use one of {', '.join(TAGS)}")
    if (name, tag) in PUBLISHED:
        return PUBLISHED[(name, tag)]
    tags = weight_tags(name)
    if tags:
        raise ResnetsError(f"{name} has published weights {', '.join(tags)} but not {tag}")
    raise ResnetsError(f"{name} has no published ImageNet weights; models with weights: "
                       f"{', '.join(models_with_weights())} (`resnets models` marks them)")


def cache_dir() -> Path:
    """Where torch.hub keeps downloaded weights: ``<torch.hub.get_dir()>/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_state_dict(entry: PublishedWeights, progress: bool = True) -> dict[str, torch.Tensor]:
    """The tensors of ``entry``: from the cache when there, else downloaded into it.

    Both a cached and a downloaded file must hash to the prefix in the file's name. Without
    a network and without the file, the error names the file, its URL and the folder to put
    it in.
    """
    folder = cache_dir()
    cached = folder / entry.file_name
    if cached.is_file() and not _sha256(cached).startswith(entry.hash_prefix):
        raise CheckpointError(f"{cached} does not hash to {entry.hash_prefix}, the SHA-256 "
                              f"prefix in its name (truncated or wrong file); delete it and "
                              f"download {entry.url} again")
    try:
        state = torch.hub.load_state_dict_from_url(
            entry.url, model_dir=str(folder), map_location="cpu", progress=progress,
            check_hash=True, weights_only=True)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise CheckpointError(
            f"cannot download {entry.file_name} from {entry.url} ({reason}); on a machine "
            f"without internet access, download it elsewhere and put it in {folder}"
            f"{os.sep} (TORCH_HOME moves that folder)") from None
    except RuntimeError as exc:
        if "invalid hash" in str(exc):  # torch.hub deleted the download that did not match
            raise CheckpointError(f"the download of {entry.url} does not hash to "
                                  f"{entry.hash_prefix}; try again, or fetch it by hand "
                                  f"into {folder}{os.sep}") from None
        raise CheckpointError(f"cannot read {cached}: {first_line(exc)}; delete it "
                              "and download it again") from None
    except Exception as exc:  # e.g. a file that torch.load(weights_only=True) refuses
        fix = "delete it and download it again"
        if cached.is_file():
            raise load_error(cached, exc, "weights file", fix) from None
        raise CheckpointError(f"cannot read {cached}: {first_line(exc)}; "
                              f"{fix}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise CheckpointError(f"{cached} holds no state dict of tensors")
    return state

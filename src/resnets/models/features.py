"""Feature extraction with timm's contract: feature indices, ``FeatureInfo``, ``features_only``.

Every model lists its feature points in ``feature_info`` (one dict per point: ``num_chs``,
``reduction``, ``module``), the stem first, as timm's ResNet does (``act1`` at reduction 2),
then one entry per stage. :meth:`ClassifierModel.forward_intermediates` returns the maps at
chosen points and :class:`FeatureListNet` is what ``create_model(name, features_only=True)``
returns: the model cut after its last chosen point, giving a list of maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable, NamedTuple

import torch
from torch import nn

from ..errors import ResnetsError

OUTPUT_FORMATS = ("NCHW", "NHWC")
Indices = int | Sequence[int] | None


class FeatureStep(NamedTuple):
    """The computation from one feature point to the next, and the modules it runs (which
    ``prune_intermediate_layers`` removes when no kept point needs them)."""

    modules: tuple[str, ...]
    run: Callable[[torch.Tensor], torch.Tensor]


def feature_take_indices(count: int, indices: Indices = None) -> tuple[list[int], int]:
    """The absolute feature indices that ``indices`` names, and the largest of them.

    As timm's: None takes all ``count`` points, an int n the last n, a sequence those it
    lists (negative ones count from the end).
    """
    if indices is None:
        indices = count
    if isinstance(indices, bool) or not isinstance(indices, (int, Sequence)):
        raise ResnetsError(f"feature indices must be an int (the last n) or a sequence of "
                           f"ints, got {indices!r}")
    if isinstance(indices, int):
        if not 0 < indices <= count:
            raise ResnetsError(f"cannot take the last {indices} feature maps: this model has "
                               f"{count} (1 to {count})")
        return list(range(count - indices, count)), count - 1
    if not indices:
        raise ResnetsError("feature indices must name at least one feature map")
    taken = []
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int):
            raise ResnetsError(f"feature index {index!r} is not an int")
        if not -count <= index < count:
            raise ResnetsError(f"feature index {index} is out of range: this model has {count} "
                               f"feature maps (0 to {count - 1}, or -{count} to -1 from the "
                               "end)")
        taken.append(index % count)
    return taken, max(taken)


def to_output_fmt(x: torch.Tensor, output_fmt: str) -> torch.Tensor:
    """``x`` (N, C, ...) as ``output_fmt`` asks: unchanged for NCHW, channels last for NHWC."""
    return x.permute(0, *range(2, x.ndim), 1) if output_fmt == "NHWC" else x


def check_output_fmt(output_fmt: str) -> None:
    if output_fmt not in OUTPUT_FORMATS:
        raise ResnetsError(f"output_fmt must be one of {', '.join(OUTPUT_FORMATS)}, got "
                           f"{output_fmt!r}")


class FeatureInfo:
    """A model's feature points and the ones a feature extractor returns (timm's class).

    ``channels()``, ``reduction()`` and ``module_name()`` give the value at each output index
    (or at the index or indices passed); ``info[i]`` and ``len`` see every feature point.
    """

    def __init__(self, feature_info: list[dict], out_indices: Sequence[int]) -> None:
        self.info = [dict(info, index=i) for i, info in enumerate(feature_info)]
        self.out_indices = tuple(out_indices)

    def get(self, key: str, idx: int | Sequence[int] | None = None):
        if idx is None:
            return [self.info[i][key] for i in self.out_indices]
        if isinstance(idx, int):
            return self.info[idx][key]
        return [self.info[i][key] for i in idx]

    def get_dicts(self, keys: Sequence[str] | None = None,
                  idx: int | Sequence[int] | None = None):
        def pick(i: int) -> dict:
            return self.info[i] if keys is None else {k: self.info[i][k] for k in keys}
        if isinstance(idx, int):
            return pick(idx)
        return [pick(i) for i in (self.out_indices if idx is None else idx)]

    def channels(self, idx: int | Sequence[int] | None = None):
        return self.get("num_chs", idx)

    def reduction(self, idx: int | Sequence[int] | None = None):
        return self.get("reduction", idx)

    def module_name(self, idx: int | Sequence[int] | None = None):
        return self.get("module", idx)

    def __getitem__(self, item):
        return self.info[item]

    def __len__(self) -> int:
        return len(self.info)


class FeatureListNet(nn.Module):
    """A model cut after its deepest chosen feature point; forward gives the chosen maps.

    What ``create_model(name, features_only=True, out_indices=...)`` returns: the layers past
    the last chosen point and the classifier are pruned away, ``feature_info`` is a
    :class:`FeatureInfo` over the chosen points, and ``forward(x)`` is the list of their maps
    (the deepest one before the final norm of a pre-activation net, as timm's).
    """

    def __init__(self, model: nn.Module, out_indices: Indices = None,
                 output_fmt: str = "NCHW") -> None:
        super().__init__()
        check_output_fmt(output_fmt)
        # in forward order, as forward_intermediates returns the maps
        self.out_indices = tuple(sorted(set(model.prune_intermediate_layers(out_indices))))
        self.feature_info = FeatureInfo(model.feature_info, self.out_indices)
        self.output_fmt = output_fmt
        self.model = model

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.model.forward_intermediates(x, indices=self.out_indices,
                                                output_fmt=self.output_fmt,
                                                intermediates_only=True)


def replace_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    """Put ``module`` where the (dotted) ``name`` was."""
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)

"""Pure stage builders: a network's stages are computed from data, not written out by hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from torch import nn

from ..errors import ResnetsError


@dataclass(frozen=True)
class StagePlan:
    """Where one stage sits in the network."""

    stride: int  # stride of the stage's first block
    dilation: int  # dilation of every 3x3 convolution after the first block's
    first_dilation: int  # dilation of the first block's 3x3 (the previous stage's)
    reduction: int  # input pixels per output pixel after this stage


def plan_stages(strides: Sequence[int], stem_reduction: int,
                output_stride: int | None = None) -> list[StagePlan]:
    """Turn stage strides into strides and dilations that stop at ``output_stride``.

    Once the reduction would pass ``output_stride``, a stage keeps its resolution and dilates
    its convolutions instead (Chen et al., DeepLab), so the receptive field still grows.
    """
    full = stem_reduction
    for s in strides:
        full *= s
    if output_stride is None:
        output_stride = full
    valid = sorted({stem_reduction * _prod(strides[:i]) for i in range(len(strides) + 1)})
    if output_stride not in valid:
        raise ResnetsError(
            f"output_stride={output_stride} is not possible here; choose one of {valid}"
        )
    plans, reduction, dilation = [], stem_reduction, 1
    for s in strides:
        first_dilation = dilation
        if reduction * s > output_stride:
            dilation *= s
            s = 1
        reduction *= s
        plans.append(StagePlan(s, dilation, first_dilation, reduction))
    return plans


def _prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def make_stage(block: type[nn.Module], in_chs: int, planes: int, num_blocks: int,
               plan: StagePlan, drop_path_rates: Sequence[float] = (),
               inner_widths: Sequence[Sequence[int]] = (), **block_kwargs) -> nn.Sequential:
    """``num_blocks`` blocks; the first one changes stride and width, the rest keep them.

    ``drop_path_rates`` gives each block its stochastic-depth drop probability (empty: none);
    ``inner_widths`` each block's widths inside its branch (empty: the block's own).
    """
    if num_blocks < 1:
        raise ResnetsError(f"a stage needs at least one block, got {num_blocks}")
    rates = list(drop_path_rates) or [0.0] * num_blocks
    if len(rates) != num_blocks:
        raise ResnetsError(f"{len(rates)} drop-path rates for a stage of {num_blocks} blocks")
    inner = list(inner_widths) or [()] * num_blocks
    if len(inner) != num_blocks:
        raise ResnetsError(f"{len(inner)} inner widths for a stage of {num_blocks} blocks")
    blocks = [block(in_chs, planes, plan.stride, dilation=plan.dilation,
                    first_dilation=plan.first_dilation, drop_path=rates[0],
                    **_widths(inner[0]), **block_kwargs)]
    out_chs = planes * block.expansion
    for rate, widths in zip(rates[1:], inner[1:]):
        blocks.append(block(out_chs, planes, 1, dilation=plan.dilation, drop_path=rate,
                            **_widths(widths), **block_kwargs))
    return nn.Sequential(*blocks)


def _widths(widths: Sequence[int]) -> dict:
    """The keyword of a pruned block's inner widths; none for a block of full widths, so
    blocks without the option (plain, other families) are built as before."""
    return {"inner_widths": tuple(widths)} if widths else {}

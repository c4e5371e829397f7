"""Bottleneck transformers: Srinivas, Lin, Parmar, Shlens, Abbeel & Vaswani, "Bottleneck
Transformers for Visual Recognition" (CVPR 2021, arXiv:2101.11605).

A BoTNet is a ResNet whose last stage (c5) replaces each bottleneck's 3x3 convolution by
multi-head self-attention over all positions of the map, with 2-D relative position logits
(Fig. 4, following Shaw et al. 2018 and Bello et al. 2019): the logit of query position
(i, j) for key (i', j') is q.k / sqrt(d) + q.r_h[i' - i] + q.r_w[j' - j]. The first block of
c5 attends at the incoming resolution and then halves it with 2x2 average pooling (Sec. 4.1).

Input size: the relative embeddings cover the offsets of the map the model was built for
(``img_size`` / 16 at the attention: 14x14 for BoT50 at 224x224). A smaller map uses the
offsets it has, exactly; a larger one clips offsets beyond the trained range to the last
embedding (Shaw et al.'s clipping), so any input runs, but only the built size is what the
weights were trained at. At the built size the layer computes timm's ``BottleneckAttn``.

BoT50 (``botnet50``) is ResNet-50 with the three c5 blocks made attention blocks, 4 heads;
``botnet26`` is the same design on 2-2-2-2 bottlenecks (timm's ``botnet26t_256`` has a
tiered 3-conv stem and two attention blocks in c4 as well; this one keeps ResNet's stem).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ResnetsError
from .blocks import BottleneckBlock, _Block, _PostActBlock, conv1x1
from .layers import linear_decay
from .registry import build, register_model
from .resnet import ResNet

PAPER = "Srinivas et al. 2021, Bottleneck Transformers for Visual Recognition " \
        "(arXiv:2101.11605)"


def relative_index(size: int, trained: int) -> torch.Tensor:
    """size x size indices into a table of 2 * trained - 1 offsets: entry (q, k) is offset
    k - q, clipped to +-(trained - 1), shifted to start at 0."""
    offsets = torch.arange(size).view(1, -1) - torch.arange(size).view(-1, 1)
    return offsets.clamp(-(trained - 1), trained - 1) + trained - 1


class RelPosSelfAttention(nn.Module):
    """Multi-head self-attention over an N x C x H x W map with 2-D relative position logits.

    ``qkv`` (a 1x1 convolution without bias) gives queries, keys and values, each split into
    ``heads`` heads of ``dim // heads`` channels; the relative embeddings ``rel_height`` and
    ``rel_width`` (one per offset, shared by the heads) are trained for ``feat_size``.
    """

    def __init__(self, dim: int, feat_size: int, heads: int = 4) -> None:
        super().__init__()
        if dim % heads:
            raise ResnetsError(f"{dim} channels do not split into {heads} attention heads")
        self.heads, self.dim_head, self.feat_size = heads, dim // heads, feat_size
        self.scale = self.dim_head ** -0.5
        self.qkv = conv1x1(dim, 3 * dim)
        self.rel_height = nn.Parameter(torch.empty(2 * feat_size - 1, self.dim_head))
        self.rel_width = nn.Parameter(torch.empty(2 * feat_size - 1, self.dim_head))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(self.qkv.weight, std=self.qkv.in_channels ** -0.5)  # fan-in
        nn.init.trunc_normal_(self.rel_height, std=self.scale)
        nn.init.trunc_normal_(self.rel_width, std=self.scale)

    def relative_logits(self, q: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """q.r_h[i' - i] + q.r_w[j' - j] for queries q (B x H x W x d): B x HW x HW."""
        b = q.shape[0]
        index_h = relative_index(height, self.feat_size).to(q.device)
        index_w = relative_index(width, self.feat_size).to(q.device)
        # each query against every offset, then the offset each key sits at
        by_h = (q @ self.rel_height.t()).gather(
            3, index_h.view(1, height, 1, height).expand(b, height, width, height))
        by_w = (q @ self.rel_width.t()).gather(
            3, index_w.view(1, 1, width, width).expand(b, height, width, width))
        logits = by_h.unsqueeze(-1) + by_w.unsqueeze(-2)  # B x H x W x H' x W'
        return logits.reshape(b, height * width, height * width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(x).split(c, dim=1)
        q = q.reshape(n * self.heads, self.dim_head, h * w).transpose(1, 2)  # BH x HW x d
        k = k.reshape(n * self.heads, self.dim_head, h * w)
        v = v.reshape(n * self.heads, self.dim_head, h * w).transpose(1, 2)
        logits = (q @ k) * self.scale + self.relative_logits(q.reshape(-1, h, w,
                                                                       self.dim_head), h, w)
        out = logits.softmax(dim=-1) @ v  # BH x HW x d
        return out.transpose(1, 2).reshape(n, c, h, w)


class BotBlock(_PostActBlock):
    """A bottleneck with self-attention for its 3x3: 1x1, MHSA (then 2x2 average pooling if
    ``stride`` is 2), 1x1 (x4), each followed by BN, ReLU after the sum (Fig. 4)."""

    expansion = 4

    def __init__(self, in_chs: int, planes: int, stride: int = 1, *, feat_size: int,
                 heads: int = 4, dilation: int = 1, first_dilation: int | None = None,
                 shortcut: str = "B", norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU,
                 block_dropout: float = 0.0, drop_path: float = 0.0) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ResnetsError(f"an attention block strides by 1 or 2, got {stride}")
        out_chs = planes * self.expansion
        self.conv1, self.bn1, self.act1 = conv1x1(in_chs, planes), norm_layer(planes), \
            act_layer(inplace=True)
        self.attn = RelPosSelfAttention(planes, feat_size, heads)
        self.pool = nn.AvgPool2d(2, 2) if stride == 2 else nn.Identity()
        self.bn2, self.act2 = norm_layer(planes), act_layer(inplace=True)
        self.conv3, self.bn3 = conv1x1(planes, out_chs), norm_layer(out_chs)
        self.act_out = act_layer(inplace=True)
        self._init_shortcut(shortcut, in_chs, out_chs, stride, norm_layer)
        self._init_options(out_chs, act_layer, None, 16, block_dropout, drop_path)

    def convs(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.drop(self.act2(self.bn2(self.pool(self.attn(out)))))
        return self.bn3(self.conv3(out))

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn3.weight)


def build_botnet(name: str, layers: tuple[int, ...], options: dict) -> ResNet:
    """A bottleneck ResNet (``options`` as ResNet's) with attention blocks in its last stage,
    built for ``img_size`` x ``img_size`` inputs (``heads`` heads)."""
    img_size, heads = options.pop("img_size", 224), options.pop("heads", 4)
    if not isinstance(img_size, int) or img_size < 32 or img_size % 32:
        raise ResnetsError(f"{name} needs img_size a multiple of 32 (>= 32), got {img_size!r}")
    model = build(ResNet, dict(block=BottleneckBlock, layers=layers), options, name,
                  extra=("img_size", "heads"))  # named in the error about a wrong option
    last, before = model.feature_info[-1], model.feature_info[-2]
    stride = last["reduction"] // before["reduction"]
    planes = last["num_chs"] // BotBlock.expansion
    rates = linear_decay(options.get("drop_path_rate", 0.0), sum(layers))[-layers[-1]:]
    common = dict(heads=heads, shortcut=options.get("shortcut", "B"),
                  norm_layer=options.get("norm_layer", nn.BatchNorm2d),
                  act_layer=options.get("act_layer", nn.ReLU),
                  block_dropout=options.get("block_dropout", 0.0))
    size = img_size // before["reduction"]  # the first block attends, then strides
    blocks = [BotBlock(before["num_chs"], planes, stride, feat_size=size, drop_path=rates[0],
                       **common)]
    blocks += [BotBlock(last["num_chs"], planes, 1, feat_size=size // stride, drop_path=rate,
                        **common) for rate in rates[1:]]
    stage = nn.Sequential(*blocks)
    for m in stage.modules():  # as ResNet initialises its own stages
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if isinstance(m, _Block) and m.residual and options.get("zero_init_residual"):
            m.zero_init_last()
    for m in stage.modules():  # then the attention's own (timm's: fan-in for qkv)
        if isinstance(m, RelPosSelfAttention):
            m.reset_parameters()
    setattr(model, model.stage_names[-1], stage)
    model.img_size = img_size
    return model


_IMAGENET = dict(family="botnet", input_size=224, num_classes=1000, reference=PAPER)


@register_model(**_IMAGENET)
def botnet26(**options) -> ResNet:
    """BoTNet-26: bottlenecks 2-2-2-2, the last two with self-attention (4 heads)."""
    return build_botnet("botnet26", (2, 2, 2, 2), options)


@register_model(**_IMAGENET)
def botnet50(**options) -> ResNet:
    """BoT50: ResNet-50 with MHSA for the 3x3 in c5's three blocks (Srinivas et al. 2021)."""
    return build_botnet("botnet50", (3, 4, 6, 3), options)


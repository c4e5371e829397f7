"""Vision transformers: Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for
Image Recognition at Scale" (ICLR 2021, arXiv:2010.11929).

The image is cut into patches, each patch a token (a linear map of its pixels: a convolution
with kernel = stride = patch size); a learned class token is put in front (or the tokens are
averaged at the end: ``global_pool="avg"``) and a learned position embedding is added. Each
block is pre-norm and residual (Eq. 2-3 of the paper)::

    x = x + Attn(LN(x))
    x = x + MLP(LN(x))

``residual=False`` drops both skips (``x = Attn(LN(x))``, ``x = MLP(LN(x))``): the plain
twin of the network, as plain20 is of resnet20; ``mlp_ratio=0`` drops the MLP (attention-only
blocks, Dong et al. 2021's "pure attention" when the skips are gone too). The final LayerNorm
comes after the last block.

Parameter names and initialisation follow timm's ``VisionTransformer``, so its weights load
unchanged and, with the same weights, both compute the same outputs (a test checks). An
input of another size than the model was built for resamples the position embedding
bicubically (timm's ``dynamic_img_size``). The hybrid (Sec. 3.1, "Hybrid Architecture") takes
its tokens from a CNN's feature map instead of from pixels: here ResNet-50's stem and its
first three stages (stride 16, 1024 channels) and a 1x1 projection, as ViT-R50 does.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ResnetsError
from .base import ClassifierModel
from .blocks import BottleneckBlock, canonical_shortcut
from .layers import DropPath, linear_decay
from .registry import build, register_model
from .resnet import ResNet

PAPER = "Dosovitskiy et al. 2021, An Image is Worth 16x16 Words (arXiv:2010.11929)"
POOLS = ("token", "avg")
TOKEN_FORMATS = ("NCHW", "NHWC", "NLC")  # maps as images, channels last, or token lists
LN_EPS = 1e-6  # timm's (and the paper's JAX code's) LayerNorm epsilon


class Attention(nn.Module):
    """Multi-head self-attention over tokens: softmax(Q K^T / sqrt(d)) V, heads joined by
    ``proj``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ResnetsError(f"embed_dim {dim} does not split into {heads} attention heads")
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(
            2, 0, 3, 1, 4)  # each B x heads x N x d
        weights = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """Linear, GELU, linear: the token-wise feed-forward layer."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """A pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x)).

    ``residual=False`` removes both skips; ``mlp_hidden=0`` removes the MLP and its norm.
    ``drop_path`` drops each residual branch per sample (stochastic depth).
    """

    def __init__(self, dim: int, heads: int, mlp_hidden: int, residual: bool = True,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.residual = residual
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS) if mlp_hidden else None
        self.mlp = Mlp(dim, mlp_hidden) if mlp_hidden else None
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.residual:
            x = x + self.drop_path(self.attn(self.norm1(x)))
            if self.mlp is not None:
                x = x + self.drop_path(self.mlp(self.norm2(x)))
            return x
        x = self.attn(self.norm1(x))
        return x if self.mlp is None else self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Tokens from an image: ``backbone`` (a CNN, or nothing), then ``proj``, a convolution
    whose kernel and stride are the patch size; ``reduction`` pixels per token side."""

    def __init__(self, proj: nn.Conv2d, reduction: int, backbone: nn.Module | None = None
                 ) -> None:
        super().__init__()
        self.backbone = backbone
        self.proj = proj
        self.reduction = reduction

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x H x W -> N x H' x W' x D."""
        if self.backbone is not None:
            x = self.backbone(x)
        return self.proj(x).permute(0, 2, 3, 1)


class VisionTransformer(ClassifierModel):
    """ViT: patch embedding, class token or mean pooling, learned position embedding,
    ``depth`` pre-norm residual blocks, LayerNorm, linear classifier (the attribute ``head``,
    as timm's).

    ``residual=False`` removes the skips of every block; ``mlp_ratio`` sizes the MLP's hidden
    layer (0: attention-only blocks). ``patch_embed`` replaces the pixel patches (the hybrid).
    ``feature_info`` has one point per block, all at the patch stride.
    """

    head_name = "head"

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_chans: int = 3,
                 num_classes: int = 1000, embed_dim: int = 768, depth: int = 12,
                 num_heads: int = 12, mlp_ratio: float = 4.0, global_pool: str = "token",
                 residual: bool = True, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 grad_checkpointing: bool = False, patch_embed: PatchEmbed | None = None
                 ) -> None:
        super().__init__()
        if global_pool not in POOLS:
            raise ResnetsError(f"global_pool must be one of {', '.join(POOLS)}, got "
                               f"{global_pool!r}")
        for key, value in (("depth", depth), ("patch_size", patch_size), ("img_size", img_size),
                           ("embed_dim", embed_dim), ("num_heads", num_heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ResnetsError(f"{key} must be a positive integer, got {value!r}")
        if mlp_ratio < 0:
            raise ResnetsError(f"mlp_ratio must be >= 0 (0: no MLP), got {mlp_ratio}")
        self.patch_embed = patch_embed or PatchEmbed(
            nn.Conv2d(in_chans, embed_dim, patch_size, stride=patch_size), patch_size)
        reduction = self.patch_embed.reduction
        if img_size % reduction:
            raise ResnetsError(f"img_size {img_size} is not a multiple of the patch stride "
                               f"{reduction}")
        self.grid = img_size // reduction
        self.global_pool, self.residual = global_pool, residual
        self.num_prefix_tokens = 1 if global_pool == "token" else 0
        self.cls_token = (nn.Parameter(torch.zeros(1, 1, embed_dim))
                          if self.num_prefix_tokens else None)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_prefix_tokens + self.grid ** 2,
                                                  embed_dim))
        hidden = int(embed_dim * mlp_ratio)
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, hidden, residual, rate)
                                      for rate in linear_decay(drop_path_rate, depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=LN_EPS)
        self.feature_info = [dict(num_chs=embed_dim, reduction=reduction, module=f"blocks.{i}")
                             for i in range(depth)]
        self._init_head(embed_dim, num_classes, drop_rate)
        self._init_weights()
        self.set_grad_checkpointing(grad_checkpointing)

    def _init_weights(self) -> None:
        """timm's: truncated normal (std 0.02) for the position embedding and every linear
        layer, zero biases, the class token near zero (std 1e-6)."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def position_embedding(self, height: int, width: int) -> torch.Tensor:
        """The position embedding for a height x width grid of tokens: as trained at the
        built size, else resampled bicubically (prefix tokens keep theirs)."""
        if (height, width) == (self.grid, self.grid):
            return self.pos_embed
        prefix, grid = self.pos_embed.split([self.num_prefix_tokens, self.grid ** 2], dim=1)
        grid = grid.reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid.float(), size=(height, width), mode="bicubic",
                             antialias=True).to(prefix.dtype)
        return torch.cat([prefix, grid.flatten(2).transpose(1, 2)], dim=1)

    def embed_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> the tokens the first block reads: patches (after the class token) plus
        their position embedding."""
        x = self.patch_embed(x)
        n, height, width, dim = x.shape
        x = x.reshape(n, height * width, dim)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(n, -1, -1), x], dim=1)
        return x + self.position_embedding(height, width)

    def run_block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.checkpointing_now():
            return self.recompute_in_backward(block, x, block)
        return block(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The tokens after the final norm: N x (prefix + patches) x D."""
        x = self.embed_tokens(x)
        for block in self.blocks:
            x = self.run_block(block, x)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """The class token's features (or the patch tokens' mean), dropout, the classifier."""
        x = x[:, 0] if self.global_pool == "token" else x[:, self.num_prefix_tokens:].mean(1)
        if self.drop_rate:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits else self.head(x)

    def forward_intermediates(self, x: torch.Tensor, indices=None, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = "NCHW",
                              intermediates_only: bool = False,
                              return_prefix_tokens: bool = False):
        """The patch tokens after the blocks ``indices`` names, and the final features
        (timm's ``VisionTransformer.forward_intermediates``).

        ``indices`` as everywhere (all blocks, the last n, or a list); ``norm`` passes each
        map through the final norm; ``output_fmt`` NCHW (maps as images), NHWC or NLC
        (token lists); ``return_prefix_tokens`` pairs each map with its class token.
        """
        if output_fmt not in TOKEN_FORMATS:
            raise ResnetsError(f"output_fmt must be one of {', '.join(TOKEN_FORMATS)}, got "
                               f"{output_fmt!r}")
        take, deepest = self._take_kept(indices)
        height, width = (side // self.patch_embed.reduction for side in x.shape[-2:])
        x = self.embed_tokens(x)
        maps = []
        for i, block in enumerate(self.blocks[:deepest + 1] if stop_early else self.blocks):
            x = self.run_block(block, x)
            if i in take:
                maps.append(self.norm(x) if norm else x)
        prefix = [m[:, :self.num_prefix_tokens] for m in maps]
        maps = [m[:, self.num_prefix_tokens:] for m in maps]
        if output_fmt != "NLC":
            maps = [m.reshape(m.shape[0], height, width, -1) for m in maps]
        if output_fmt == "NCHW":
            maps = [m.permute(0, 3, 1, 2).contiguous() for m in maps]
        if return_prefix_tokens and self.num_prefix_tokens:
            maps = list(zip(maps, prefix))
        return maps if intermediates_only else (self.norm(x), maps)

    def prune_intermediate_layers(self, indices=1, prune_norm: bool = False,
                                  prune_head: bool = True) -> list[int]:
        """Keep the blocks up to the deepest of ``indices`` (timm's); ``prune_norm`` removes
        the final norm, ``prune_head`` the classifier. Returns the indices kept."""
        take, deepest = self._take_kept(indices)
        self.blocks = self.blocks[:deepest + 1]
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.reset_classifier(0)
        self.kept_features = deepest + 1
        return take


def build_vit(name: str, fixed: dict, options: dict,
              extra: tuple[str, ...] = ("shortcut",)) -> VisionTransformer:
    """``VisionTransformer(**fixed, **options)``. ``shortcut="none"`` is the training
    config's spelling (``model.shortcut=none``) of ``residual=False``: a ViT's skips are
    identities, so no other shortcut applies."""
    if "shortcut" in options:
        shortcut = options.pop("shortcut")
        if canonical_shortcut(shortcut) != "none":
            raise ResnetsError(f"{name}'s skips are identities: shortcut 'none' removes them "
                               f"(residual=False), {shortcut!r} does not apply")
        options["residual"] = False
    return build(VisionTransformer, fixed, options, name, extra=extra)


def resnet50_patch_embed(in_chans: int, embed_dim: int) -> PatchEmbed:
    """ResNet-50's stem and stages 1-3 (stride 16, 1024 channels), then a 1x1 projection to
    ``embed_dim``: every position of the stride-16 map is a token (ViT-R50's embedding)."""
    cnn = ResNet(BottleneckBlock, (3, 4, 6, 3), in_chans=in_chans, num_classes=0)
    backbone = nn.Sequential(cnn.conv1, cnn.bn1, cnn.act1, cnn.maxpool, cnn.layer1,
                             cnn.layer2, cnn.layer3)
    return PatchEmbed(nn.Conv2d(cnn.feature_info[3]["num_chs"], embed_dim, 1),
                      cnn.feature_info[3]["reduction"], backbone)


_IMAGENET = dict(family="vit", input_size=224, num_classes=1000, reference=PAPER)
_SMALL = dict(family="vit", num_classes=10, reference=PAPER)
# The small sizes' own choices, which their options may change (the experiments do).
SMALL_DEFAULTS = dict(depth=6, mlp_ratio=2.0, global_pool="avg")


@register_model(**_IMAGENET)
def vit_tiny_patch16_224(**options) -> VisionTransformer:
    """ViT-Ti/16 (DeiT-Ti's shape): width 192, 12 blocks, 3 heads; 5,717,416 parameters."""
    return build_vit("vit_tiny_patch16_224", dict(
        img_size=224, patch_size=16, embed_dim=192, depth=12, num_heads=3), options)


@register_model(**_IMAGENET)
def vit_small_patch16_224(**options) -> VisionTransformer:
    """ViT-S/16: width 384, 12 blocks, 6 heads; 22,050,664 parameters, as timm's."""
    return build_vit("vit_small_patch16_224", dict(
        img_size=224, patch_size=16, embed_dim=384, depth=12, num_heads=6), options)


@register_model(**_IMAGENET)
def vit_small_resnet50_s16_224(**options) -> VisionTransformer:
    """Hybrid ViT-S: tokens from ResNet-50's stem + stages 1-3 (stride 16), 12 blocks."""
    in_chans = options.pop("in_chans", 3)
    return build_vit("vit_small_resnet50_s16_224", dict(
        img_size=224, embed_dim=384, depth=12, num_heads=6,
        patch_embed=resnet50_patch_embed(in_chans, 384)), options, ("in_chans", "shortcut"))


@register_model(input_size=32, **_SMALL)
def vit_cifar(**options) -> VisionTransformer:
    """A CIFAR ViT: 4x4 patches (64 tokens), width 192, 3 heads, mean-pooled, depth 6."""
    return build_vit("vit_cifar", dict(img_size=32, patch_size=4, embed_dim=192, num_heads=3),
                     {**SMALL_DEFAULTS, **options})


@register_model(input_size=16, **_SMALL)
def vit_digits(**options) -> VisionTransformer:
    """A digits ViT: 4x4 patches of 16x16 (16 tokens), width 64, 4 heads, depth 6."""
    return build_vit("vit_digits", dict(img_size=16, patch_size=4, embed_dim=64, num_heads=4),
                     {**SMALL_DEFAULTS, **options})

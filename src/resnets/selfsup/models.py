"""SimCLR and BYOL around a registry backbone, and their losses.

The backbone is any registry image model without its classifier: ``forward_features`` then
the global pool (``forward_head(pre_logits=True)``), the features that kNN and linear probes
read. Its parameters sit under ``backbone.`` in the state dict, which is how
``resnets train model.pretrained=RUN`` finds them (the checkpoint's ``backbone_prefix``).

* SimCLR (Chen et al. 2020, arXiv:2002.05709): projector g = Linear-BN-ReLU-Linear, and the
  NT-Xent loss of the 2N projected views (each view's positive is the other view of its
  image, the other 2N - 2 views are its negatives).
* BYOL (Grill et al. 2020, arXiv:2006.07733): online backbone + projector + predictor q,
  target backbone + projector an exponential moving average of the online ones; the loss
  2 - 2 cos(q(z_1), z'_2), symmetrised over the two views. The target is a submodule
  without gradients, so checkpoints and resumes carry it with the weights.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..models import create_model

BACKBONE_PREFIX = "backbone."


def mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """Linear-BN-ReLU-Linear: the projector (and BYOL's predictor) of both papers."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden),
                         nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))


def pooled_features(backbone: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The backbone's globally pooled features (before any classifier)."""
    return backbone.forward_head(backbone.forward_features(images), pre_logits=True)


def nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent of 2N embeddings, the first views first: the mean over the 2N views of
    -log softmax of the positive's cosine / temperature among all the other views."""
    z = F.normalize(z.float(), dim=1)
    n = z.shape[0] // 2
    logits = z @ z.t() / temperature
    logits.fill_diagonal_(float("-inf"))  # a view is not its own negative
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, positives)


def byol_loss(online: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """2 - 2 cos(online, target) per pair, averaged; the target gets no gradient."""
    cos = F.cosine_similarity(online.float(), target.detach().float(), dim=1)
    return (2 - 2 * cos).mean()


def symmetric_byol_loss(out: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """BYOL's loss of (online predictions, target projections) of 2N views: each view's
    prediction against the target's projection of the other view of its image."""
    online, target = out
    n = online.shape[0] // 2
    return byol_loss(online[:n], target[n:]) + byol_loss(online[n:], target[:n])


def target_momentum(base: float, step: int, total_steps: int) -> float:
    """BYOL's tau_k = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2: base at step 0, 1 at K."""
    progress = min(step / max(total_steps, 1), 1.0)
    return 1 - (1 - base) * (math.cos(math.pi * progress) + 1) / 2


class SimCLR(nn.Module):
    """Backbone and projector; ``forward(views)`` returns the projected 2N views."""

    def __init__(self, backbone: nn.Module, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = mlp(backbone.num_features, hidden, out_dim)

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return self.projector(pooled_features(self.backbone, views))


class BYOL(nn.Module):
    """Online backbone, projector and predictor, and their target copy (an EMA of the
    online backbone and projector). ``forward(views)`` returns (predictions of the online
    network, projections of the target network), each 2N rows."""

    def __init__(self, backbone: nn.Module, hidden: int, out_dim: int,
                 pred_hidden: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = mlp(backbone.num_features, hidden, out_dim)
        self.predictor = mlp(out_dim, pred_hidden, out_dim)
        self.target = nn.ModuleDict({"backbone": copy.deepcopy(backbone),
                                     "projector": copy.deepcopy(self.projector)})
        self.target.requires_grad_(False)

    def forward(self, views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        online = self.predictor(self.projector(pooled_features(self.backbone, views)))
        with torch.no_grad():
            target = self.target["projector"](pooled_features(self.target["backbone"], views))
        return online, target

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """target = momentum * target + (1 - momentum) * online; buffers (BN statistics)
        are the target's own, from its forward passes."""
        for name in ("backbone", "projector"):
            online = getattr(self, name).parameters()
            for t, o in zip(self.target[name].parameters(), online):
                t.mul_(momentum).add_(o.detach(), alpha=1 - momentum)


def build_network(method: str, model_name: str, in_chans: int, proj_hidden: int,
                  proj_dim: int, pred_hidden: int) -> SimCLR | BYOL:
    """The method's network around a fresh registry backbone without classifier."""
    backbone = create_model(model_name, num_classes=0, in_chans=in_chans)
    if method == "byol":
        return BYOL(backbone, proj_hidden, proj_dim, pred_hidden)
    return SimCLR(backbone, proj_hidden, proj_dim)

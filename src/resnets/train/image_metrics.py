"""Quality measures of generated images computed with a classifier of this project (no
download): the Frechet distance between the Gaussians fitted to its pooled features of two
image sets (Heusel et al. 2017's FID, with our network instead of Inception), a classifier
score (Salimans et al. 2016's Inception Score with our classifier's probabilities), and how
often generated images are classified as the class they were generated for."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data import normalize


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor,
                     cov2: torch.Tensor) -> float:
    """``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` (in float64).

    Tr((S1 S2)^(1/2)) is the sum of the square roots of the eigenvalues of the symmetric
    S1^(1/2) S2 S1^(1/2), which has the same eigenvalues as S1 S2 and needs no complex sqrtm.
    """
    mu1, mu2, cov1, cov2 = (t.double() for t in (mu1, mu2, cov1, cov2))
    root = _sqrt_psd(cov1)
    cross = torch.linalg.eigvalsh(root @ cov2 @ root).clamp(min=0).sqrt().sum()
    value = (mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2 * cross
    return float(value.clamp(min=0))


def gaussian(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) covariance of the rows of ``features``."""
    x = features.double()
    return x.mean(0), torch.cov(x.T)


def classifier_score(probs: torch.Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))): high when each image is confidently one class and the
    classes are all present (1 at worst, the number of classes at best)."""
    p = probs.double().clamp(min=1e-12)
    marginal = p.mean(0, keepdim=True)
    return math.exp(float((p * (p.log() - marginal.log())).sum(1).mean()))


@dataclass
class FeatureClassifier:
    """A trained classifier of this project that reads images in [0, 1]: its pooled
    features and class probabilities at its own input size and normalisation."""

    model: torch.nn.Module
    mean: list
    std: list
    side: int
    classes: list
    in_chans: int = 3

    @classmethod
    def load(cls, path: str | os.PathLike, device: torch.device) -> "FeatureClassifier":
        from .inference import load_trained

        model, state, _ = load_trained(path, device)
        return cls(model, state["mean"], state["std"], state["image_size"], state["classes"],
                   state["in_chans"])

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch: int = 500
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, probabilities) of ``images`` (N x C x H x W in [0, 1])."""
        feats, probs = [], []
        for chunk in images.split(batch):
            if chunk.shape[-1] != self.side:
                chunk = F.interpolate(chunk, size=(self.side, self.side), mode="bilinear",
                                      align_corners=False)
            x = self.model.forward_features(normalize(chunk, self.mean, self.std))
            pooled = self.model.forward_head(x, pre_logits=True)
            feats.append(pooled.float().cpu())
            probs.append(self.model.get_classifier()(pooled).softmax(1).float().cpu())
        return torch.cat(feats), torch.cat(probs)

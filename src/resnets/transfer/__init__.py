"""Transfer learning: published ImageNet weights, fine-tuning, embeddings and linear probes.

* :func:`create_pretrained` (what ``create_model(name, pretrained=True)`` calls): torchvision's
  published weights, downloaded once into torch.hub's cache and checked against their hash;
* :func:`load_pretrained` / :func:`freeze_stages`: what ``model.pretrained`` and
  ``model.freeze_stages`` of a training config do;
* :mod:`~resnets.transfer.embed` and :mod:`~resnets.transfer.probe`: ``resnets embed`` and
  ``resnets probe``.
"""

from .finetune import check_pretrained, freeze_stages, load_pretrained
from .mapping import adapt_input_conv, convert_state_dict, load_backbone
from .pretrained import (PUBLISHED, PublishedWeights, cache_dir, create_pretrained,
                         fetch_state_dict, models_with_weights, published_weights, weight_tags)

__all__ = [
    "PUBLISHED", "PublishedWeights", "adapt_input_conv", "cache_dir", "check_pretrained",
    "convert_state_dict", "create_pretrained", "fetch_state_dict", "freeze_stages",
    "load_backbone", "load_pretrained", "models_with_weights", "published_weights",
    "weight_tags",
]

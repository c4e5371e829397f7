"""Transfer learning: published ImageNet weights, fine-tuning, embeddings and linear probes.

* :func:`create_pretrained` (what ``create_model(name, pretrained=True)`` calls): torchvision's
  published weights, downloaded once into torch.hub's cache and checked against their hash
  (they live in :mod:`resnets.models.pretrained`, re-exported here);
* :func:`load_pretrained` / :func:`freeze_stages`: what ``model.pretrained`` and
  ``model.freeze_stages`` of a training config do (:mod:`resnets.train.finetune`);
* :mod:`~resnets.transfer.embed` and :mod:`~resnets.transfer.probe`: ``resnets embed`` and
  ``resnets probe``.
"""

import sys

from ..models import mapping, pretrained
from ..models.mapping import adapt_input_conv, convert_state_dict, load_backbone
from ..models.pretrained import (PUBLISHED, PublishedWeights, cache_dir, fetch_state_dict,
                                 models_with_weights, published_weights, weight_tags)
from ..models.registry import create_pretrained
from ..train import finetune
from ..train.finetune import check_pretrained, freeze_stages, load_pretrained

# The published weights and the state-dict mapping moved down to the models layer, and
# fine-tuning (model.pretrained, model.freeze_stages) to the engine (docs/architecture.md).
# Their old names stay importable, as the same module objects, so that
# ``resnets.transfer.pretrained.X = ...`` still patches what the code uses.
sys.modules[f"{__name__}.finetune"] = finetune
sys.modules[f"{__name__}.mapping"] = mapping
sys.modules[f"{__name__}.pretrained"] = pretrained

__all__ = [
    "PUBLISHED", "PublishedWeights", "adapt_input_conv", "cache_dir", "check_pretrained",
    "convert_state_dict", "create_pretrained", "fetch_state_dict", "freeze_stages",
    "load_backbone", "load_pretrained", "models_with_weights", "published_weights",
    "weight_tags",
]

"""Metric learning (ArcFace, CosFace, triplet, supervised contrastive, softmax embeddings) and
the verification and identification protocols of face recognition (``resnets verify``)."""

from . import recipes  # noqa: F401 (registers the recipes of `resnets metric train`)
from . import task  # noqa: F401 (registers the task those recipes configure)

"""The model zoo: blocks, one module per family, the registry that names them all, and the
published weights that load into them.

Importing the package imports every family module, whose ``@register_model`` decorators fill
the registry; ``models`` imports nothing of the project above it (docs/architecture.md).
"""

from . import (botnet, densenet, gated, kws, plain, preact, resnet, resnext, senet,  # noqa: F401
               sr, vdcnn, vit, wide)
from .base import ClassifierModel
from .blocks import (BasicBlock, BottleneckBlock, PreActBasicBlock, PreActBottleneckBlock,
                     ZeroPadShortcut)
from .densenet import DenseNet
from .layers import DropPath, SqueezeExcite
from .pretrained import models_with_weights, weight_tags
from .registry import (ModelInfo, create_model, create_pretrained, list_models, model_info,
                       register_model)
from .resnet import ResNet

__all__ = [
    "BasicBlock", "BottleneckBlock", "ClassifierModel", "DenseNet", "DropPath", "ModelInfo",
    "PreActBasicBlock", "PreActBottleneckBlock", "ResNet", "SqueezeExcite", "ZeroPadShortcut",
    "create_model", "create_pretrained", "list_models", "model_info", "models_with_weights",
    "register_model", "weight_tags",
]

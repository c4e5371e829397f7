"""The model zoo: blocks, one module per family, and the registry that names them all."""

from .base import ClassifierModel
from .blocks import (BasicBlock, BottleneckBlock, PreActBasicBlock, PreActBottleneckBlock,
                     ZeroPadShortcut)
from .densenet import DenseNet
from .layers import DropPath, SqueezeExcite
from .registry import ModelInfo, create_model, list_models, model_info, register_model
from .resnet import ResNet

__all__ = [
    "BasicBlock", "BottleneckBlock", "ClassifierModel", "DenseNet", "DropPath", "ModelInfo",
    "PreActBasicBlock", "PreActBottleneckBlock", "ResNet", "SqueezeExcite", "ZeroPadShortcut",
    "create_model", "list_models", "model_info", "register_model",
]

"""resnets: deep residual networks, their training recipes and the experiments behind them."""

import importlib

from .errors import ResnetsError

__version__ = "0.1.0"

# Imported on first use: `import resnets.cli` must not import torch (seconds), so that the
# command's start-up, Ctrl-C included, runs inside its main() and its error handling.
_LAZY = {"create_model": ".models", "list_models": ".models", "model_info": ".models",
         "register_model": ".models", "load_weights": ".weights", "save_weights": ".weights",
         "resolve_data_config": ".data.published", "create_transform": ".data.published",
         "imagenet_classes": ".models.pretrained", "save_pretrained": ".models.hub",
         "push_to_hub": ".models.hub"}

__all__ = ["ResnetsError", "create_model", "create_transform", "imagenet_classes",
           "list_models", "load_weights", "model_info", "push_to_hub", "register_model",
           "resolve_data_config", "save_pretrained", "save_weights", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

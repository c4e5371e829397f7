"""resnets: deep residual networks, their training recipes and the experiments behind them."""

from .errors import ResnetsError
from .models import create_model, list_models, model_info, register_model
from .weights import load_weights, save_weights

__version__ = "0.1.0"

__all__ = ["ResnetsError", "create_model", "list_models", "load_weights", "model_info",
           "register_model", "save_weights", "__version__"]

"""torch.hub entry points: ``torch.hub.load("ORG/resnets", "resnet50", pretrained=True)``.

Every model of the registry is an entry point, built by :func:`resnets.create_model`
(``pretrained=True`` loads torchvision's published weights through torch.hub's cache;
``weights="v2"``, ``num_classes``, ``in_chans`` and the model's options pass through).
``torch.hub.list`` lists them. A checkout that is not installed finds the package in ``src/``.
"""

import os
import sys

dependencies = ["torch", "torchvision"]

try:
    import resnets
except ImportError:  # torch.hub's copy of the repository: the package sits in src/
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))
    import resnets


def __getattr__(name: str):
    if name.startswith("_") or name not in resnets.list_models():
        raise AttributeError(f"module 'hubconf' has no entry point {name!r}; "
                             "torch.hub.list shows them")

    def entry_point(pretrained: bool = False, **options):
        return resnets.create_model(name, pretrained=pretrained, **options)

    entry_point.__name__ = name
    entry_point.__doc__ = f"{name}: resnets.create_model({name!r}, pretrained, **options)"
    return entry_point


def __dir__():
    return ["dependencies", *resnets.list_models()]

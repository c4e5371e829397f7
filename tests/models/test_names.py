"""Every registered name is a module-level builder of its family module, found by name.

``resnets.models.resnet.resnet50`` exists, is what the registry calls, and is written out
with its own ``def`` (greppable, documented), not made by a closure in a loop.
"""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

from resnets.models import list_models, model_info

# The registry as it stood before the builders were written out one by one (issue #16 item
# 5), with the super-resolution models of issue #20 (models/sr.py), the ViTs and gated ResNets of
# issue #21, in list_models' order:
# name -> (family, input size, classes, paper's params, modality).
REGISTERED = {
    "botnet26": ("botnet", 224, 1000, None, "image"),
    "botnet50": ("botnet", 224, 1000, None, "image"),
    "cifar_densenet": ("densenet", 32, 10, None, "image"),
    "cifar_plain": ("plain", 32, 10, None, "image"),
    "cifar_preact_resnet": ("preact", 32, 10, None, "image"),
    "cifar_resnet": ("resnet", 32, 10, None, "image"),
    "cifar_resnet_gated": ("gated", 32, 10, None, "image"),
    "cifar_wrn": ("wrn", 32, 10, None, "image"),
    "densenet121": ("densenet", 224, 1000, None, "image"),
    "densenet161": ("densenet", 224, 1000, None, "image"),
    "densenet169": ("densenet", 224, 1000, None, "image"),
    "densenet201": ("densenet", 224, 1000, None, "image"),
    "densenet_bc_100_12": ("densenet", 32, 10, "0.8M", "image"),
    "densenet_bc_190_40": ("densenet", 32, 10, "25.6M", "image"),
    "densenet_bc_250_24": ("densenet", 32, 10, "15.3M", "image"),
    "edsr_baseline_x2": ("edsr", 48, 0, "1.37M", "image"),
    "edsr_baseline_x3": ("edsr", 48, 0, "1.55M", "image"),
    "edsr_baseline_x4": ("edsr", 48, 0, "1.52M", "image"),
    "edsr_x2": ("edsr", 48, 0, "40.7M", "image"),
    "edsr_x3": ("edsr", 48, 0, "43.7M", "image"),
    "edsr_x4": ("edsr", 48, 0, "43.1M", "image"),
    "plain18": ("plain", 224, 1000, None, "image"),
    "plain20": ("plain", 32, 10, None, "image"),
    "plain32": ("plain", 32, 10, None, "image"),
    "plain34": ("plain", 224, 1000, None, "image"),
    "plain44": ("plain", 32, 10, None, "image"),
    "plain56": ("plain", 32, 10, None, "image"),
    "plain110": ("plain", 32, 10, None, "image"),
    "preact_resnet18": ("preact", 224, 1000, None, "image"),
    "preact_resnet34": ("preact", 224, 1000, None, "image"),
    "preact_resnet50": ("preact", 224, 1000, None, "image"),
    "preact_resnet101": ("preact", 224, 1000, None, "image"),
    "preact_resnet110": ("preact", 32, 10, "1.7M", "image"),
    "preact_resnet152": ("preact", 224, 1000, None, "image"),
    "preact_resnet164": ("preact", 32, 10, "1.7M", "image"),
    "preact_resnet200": ("preact", 224, 1000, None, "image"),
    "preact_resnet1001": ("preact", 32, 10, "10.2M", "image"),
    "res8": ("kws", 101, 12, "110K", "audio"),
    "res8_narrow": ("kws", 101, 12, "19.9K", "audio"),
    "res15": ("kws", 101, 12, "238K", "audio"),
    "res15_narrow": ("kws", 101, 12, "42.6K", "audio"),
    "res26": ("kws", 101, 12, "438K", "audio"),
    "res26_narrow": ("kws", 101, 12, "78.4K", "audio"),
    "resnet18": ("resnet", 224, 1000, "11.7M", "image"),
    "resnet20": ("resnet", 32, 10, "0.27M", "image"),
    "resnet20_gated": ("gated", 32, 10, None, "image"),
    "resnet32": ("resnet", 32, 10, "0.46M", "image"),
    "resnet34": ("resnet", 224, 1000, "21.8M", "image"),
    "resnet44": ("resnet", 32, 10, "0.66M", "image"),
    "resnet50": ("resnet", 224, 1000, "25.6M", "image"),
    "resnet56": ("resnet", 32, 10, "0.85M", "image"),
    "resnet56_gated": ("gated", 32, 10, None, "image"),
    "resnet101": ("resnet", 224, 1000, "44.5M", "image"),
    "resnet110": ("resnet", 32, 10, "1.7M", "image"),
    "resnet110_gated": ("gated", 32, 10, None, "image"),
    "resnet152": ("resnet", 224, 1000, "60.2M", "image"),
    "resnet1202": ("resnet", 32, 10, "19.4M", "image"),
    "resnext50_32x4d": ("resnext", 224, 1000, "25.0M", "image"),
    "resnext101_32x8d": ("resnext", 224, 1000, None, "image"),
    "se_resnet18": ("senet", 224, 1000, None, "image"),
    "se_resnet34": ("senet", 224, 1000, None, "image"),
    "se_resnet50": ("senet", 224, 1000, "28.1M", "image"),
    "se_resnet101": ("senet", 224, 1000, None, "image"),
    "se_resnet152": ("senet", 224, 1000, None, "image"),
    "se_resnext50_32x4d": ("senet", 224, 1000, None, "image"),
    "vdcnn9": ("vdcnn", 1014, 4, None, "text"),
    "vdcnn17": ("vdcnn", 1014, 4, None, "text"),
    "vdcnn29": ("vdcnn", 1014, 4, None, "text"),
    "vdsr_x2": ("vdsr", 48, 0, None, "image"),
    "vdsr_x3": ("vdsr", 48, 0, None, "image"),
    "vdsr_x4": ("vdsr", 48, 0, None, "image"),
    "vit_cifar": ("vit", 32, 10, None, "image"),
    "vit_digits": ("vit", 16, 10, None, "image"),
    "vit_small_patch16_224": ("vit", 224, 1000, None, "image"),
    "vit_small_resnet50_s16_224": ("vit", 224, 1000, None, "image"),
    "vit_tiny_patch16_224": ("vit", 224, 1000, None, "image"),
    "wide_resnet50_2": ("wrn", 224, 1000, "68.9M", "image"),
    "wide_resnet101_2": ("wrn", 224, 1000, None, "image"),
    "wrn_16_8": ("wrn", 32, 10, "11.0M", "image"),
    "wrn_28_10": ("wrn", 32, 10, "36.5M", "image"),
    "wrn_40_4": ("wrn", 32, 10, "8.9M", "image"),
}


def test_the_registry_is_unchanged():
    assert list_models() == list(REGISTERED)
    for name, (family, size, classes, published, modality) in REGISTERED.items():
        info = model_info(name)
        assert (info.family, info.input_size, info.num_classes, info.published_params,
                info.modality) == (family, size, classes, published, modality), name
        assert info.task == ("super-resolution" if family in ("edsr", "vdsr")
                             else "classification"), name


@pytest.mark.parametrize("name", list(REGISTERED))
def test_each_name_is_a_module_level_function_of_its_family(name):
    builder = model_info(name).builder
    module = importlib.import_module(builder.__module__)
    assert module.__name__.startswith("resnets.models.")
    assert getattr(module, name) is builder
    assert builder.__qualname__ == name  # not a closure: "<locals>" would be in the name
    doc = inspect.getdoc(builder)
    assert doc and "\n" not in doc, f"{name} needs a one-line docstring"


def test_the_builders_are_written_out_with_def():
    """No family module registers builders in a loop: each name has its own decorated def."""
    defined = {}
    for name in REGISTERED:
        module = importlib.import_module(model_info(name).builder.__module__)
        if module.__name__ not in defined:
            tree = ast.parse(inspect.getsource(module))
            defined[module.__name__] = {
                node.name for node in tree.body if isinstance(node, ast.FunctionDef)
                and any("register_model" in ast.unparse(d) for d in node.decorator_list)}
        assert name in defined[module.__name__], name
    assert sum(map(len, defined.values())) == len(REGISTERED)

"""Named training recipes: the papers' setups as overrides of a task's configuration.

Each recipe cites its source and names its task. This module holds the classification
recipes; a task package registers its own (:func:`register_recipes`) when imported.
``resnets recipes`` lists them grouped by task; ``resnets train --recipe NAME key=value ...``
(or the task's own train command) runs one with any field overridden.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import ResnetsError, did_you_mean
from .config import TASK_COMMANDS, TrainConfig, apply_overrides
from .modern_recipes import modern_recipes

RESNET_PAPER = "He et al. 2015, arXiv:1512.03385, Sec. 4.2"
PREACT_PAPER = "He et al. 2016, arXiv:1603.05027, Sec. 4 and Appendix"
IMAGENET_PAPER = "He et al. 2015, arXiv:1512.03385, Sec. 3.4"


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str  # one line shown by `resnets recipes`
    source: str  # where the setup is published
    overrides: dict[str, Any]  # dotted keys of the task's configuration
    task: str = "classification"  # the TASK of the configuration it sets


# The paper's CIFAR schedule: batch 128, lr 0.1 divided by 10 at 32k and 48k, stop at 64k.
_CIFAR_STEP = {
    "data.augment": "cifar", "data.crop_padding": 4, "batch_size": 128,
    "optim.lr": 0.1, "optim.momentum": 0.9, "optim.weight_decay": 1e-4,
    "schedule.name": "step", "schedule.milestones": (32000, 48000), "schedule.gamma": 0.1,
    "iterations": 64000,
}
# ResNet-110 and deeper: 0.01 until the training error falls below 80%, then 0.1.
_ERROR_GATED_WARMUP = {"schedule.warmup_lr": 0.01, "schedule.warmup_until_error": 0.8}
# Pre-activation nets (He et al. 2016): 0.01 for the first 400 iterations.
_FIXED_WARMUP = {"schedule.warmup_lr": 0.01, "schedule.warmup_iters": 400,
                 "schedule.warmup_mode": "constant"}


def _cifar_recipes() -> list[Recipe]:
    out = []
    for dataset, classes in (("cifar10", 10), ("cifar100", 100)):
        base = {**_CIFAR_STEP, "data.dataset": dataset}
        for depth in (20, 32, 44, 56, 110, 1202):
            extra = _ERROR_GATED_WARMUP if depth >= 110 else {}
            out.append(Recipe(f"{dataset}-resnet{depth}",
                              f"ResNet-{depth} (option A) on {dataset.upper()}, 64k iterations",
                              RESNET_PAPER,
                              {**base, **extra, "model.name": f"resnet{depth}"}))
        for depth in (20, 32, 44, 56, 110):
            extra = _ERROR_GATED_WARMUP if depth >= 110 else {}
            out.append(Recipe(f"{dataset}-plain{depth}",
                              f"plain-{depth} on {dataset.upper()}, the ResNet recipe",
                              RESNET_PAPER,
                              {**base, **extra, "model.name": f"plain{depth}"}))
        for depth in (110, 164, 1001):
            out.append(Recipe(f"{dataset}-preact-resnet{depth}",
                              f"pre-activation ResNet-{depth} on {dataset.upper()}",
                              PREACT_PAPER,
                              {**base, **_FIXED_WARMUP,
                               "model.name": f"preact_resnet{depth}"}))
    return out


def _imagenet_recipes() -> list[Recipe]:
    return [
        Recipe(f"imagenet-resnet{depth}",
               f"ResNet-{depth} on an ImageNet folder: 90 epochs, lr 0.1 /10 every 30",
               IMAGENET_PAPER,
               {"model.name": f"resnet{depth}", "data.dataset": "folder",
                "data.image_size": 224, "batch_size": 256, "optim.lr": 0.1,
                "optim.momentum": 0.9, "optim.weight_decay": 1e-4, "epochs": 90,
                "schedule.name": "multistep", "schedule.milestone_epochs": (30, 60),
                "schedule.gamma": 0.1, "eval_batch_size": 256})
        for depth in (18, 34, 50, 101, 152)
    ]


DEFAULT_RECIPE = "digits-resnet20"

_DIGITS = Recipe(
    DEFAULT_RECIPE,
    "the main job: ResNet-20 on the embedded handwritten digits (16x16), under a minute on CPU",
    "this project (docs/training.md); the network is He et al. 2015's CIFAR ResNet-20",
    {"model.name": "resnet20", "data.dataset": "digits", "data.resize": 16,
     "data.augment": "crop", "data.crop_padding": 2, "batch_size": 64, "epochs": 30,
     "optim.lr": 0.1, "optim.nesterov": True, "optim.weight_decay": 5e-4,
     "schedule.name": "cosine", "schedule.warmup_iters": 100, "eval_batch_size": 512},
)

_SYNTHETIC = Recipe(
    "synthetic-smoke",
    "a seconds-long smoke test: ResNet-20 on deterministic synthetic images",
    "this project",
    {"model.name": "resnet20", "data.dataset": "synthetic", "data.synthetic_size": 256,
     "data.augment": "none", "batch_size": 32, "epochs": 2, "optim.lr": 0.05,
     "schedule.name": "cosine"},
)

# Little data or little time (the 4,068-image subset of docs/training.md, 30 epochs): what the
# fast-CIFAR work found on top of the paper's net, whose architecture stays as published.
_CIFAR_EFFICIENT = Recipe(
    "cifar10-resnet20-efficient",
    "ResNet-20 for small CIFAR-10 sets and short budgets: 30 epochs, one-cycle lr, label "
    "smoothing, EMA weights, test-time flip",
    "Page 2018, 'How to train your ResNet' (myrtle.ai): one-cycle linear lr, Nesterov, "
    "label smoothing 0.2, flip TTA; EMA of weights; Jordan 2024, arXiv:2404.00498 (airbench); "
    "measured in docs/training.md",
    {"model.name": "resnet20", "data.dataset": "cifar10", "data.augment": "cifar",
     "data.crop_padding": 4, "data.eval_flip": True, "batch_size": 64, "epochs": 30,
     "iterations": 0, "optim.lr": 0.2, "optim.momentum": 0.9, "optim.nesterov": True,
     "optim.weight_decay": 1e-3, "optim.label_smoothing": 0.2, "schedule.name": "cyclic",
     "schedule.cycle_peak": 0.2, "optim.ema_decay": 0.99, "eval_batch_size": 512},
)

RECIPES: dict[str, Recipe] = {r.name: r for r in
                              [_DIGITS, _SYNTHETIC, *_cifar_recipes(), _CIFAR_EFFICIENT,
                               *_imagenet_recipes()]}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ResnetsError(f"unknown recipe {name!r}{did_you_mean(name, RECIPES)}; "
                           "`resnets recipes` lists them")
    return RECIPES[name]


def register_recipes(recipes: list[Recipe]) -> None:
    """Add the recipes of a task (its package calls this when imported)."""
    for recipe in recipes:
        if recipe.name in RECIPES:
            raise ValueError(f"recipe {recipe.name!r} is registered twice")
        RECIPES[recipe.name] = recipe


def recipes_by_task() -> dict[str, list[Recipe]]:
    """Every task's recipes in the order registered: the tasks of ``TASK_COMMANDS`` first
    (in its order, empty for a task without recipes), then any other."""
    groups: dict[str, list[Recipe]] = {task: [] for task in TASK_COMMANDS}
    for recipe in RECIPES.values():
        groups.setdefault(recipe.task, []).append(recipe)
    return groups


def recipe_overrides(name: str, cls: type = TrainConfig) -> dict[str, Any]:
    """The settings of recipe ``name`` (with its name and source) for a configuration of
    class ``cls``; a recipe of another task is one line naming the command that runs it."""
    recipe = get_recipe(name)
    if recipe.task != cls.TASK:
        command = TASK_COMMANDS.get(recipe.task, recipe.task)
        raise ResnetsError(f"recipe {name!r} is a {recipe.task} recipe; run it with "
                           f"`{command} --recipe {name}`")
    return {**recipe.overrides, "recipe": recipe.name, "source": recipe.source}


def recipe_config(name: str = DEFAULT_RECIPE, overrides: dict[str, Any] | None = None,
                  cls: type | None = None) -> Any:
    """The base config of the recipe's task with the recipe applied, then ``overrides``."""
    from . import classification  # noqa: F401 (registers the task of this module's recipes)
    from .task import TASKS

    task = get_recipe(name).task
    if cls is None and task not in TASKS:  # its package registered recipes, not the task
        raise ResnetsError(f"recipe {name!r} is for the {task!r} task, which is not "
                           "registered; import the package that registers it")
    cls = cls or TASKS[task].config_class
    cfg = apply_overrides(cls(), recipe_overrides(name, cls))
    return apply_overrides(cfg, overrides or {})


# --- wide ResNets and DenseNets -------------------------------------------------------------

WRN_PAPER = "Zagoruyko & Komodakis 2016, arXiv:1605.07146, Sec. 3"
DENSENET_PAPER = "Huang et al. 2017, arXiv:1608.06993, Sec. 4.2"

# 200 epochs of batch 128, lr 0.1 multiplied by 0.2 at epochs 60, 120 and 160, weight decay
# 5e-4, Nesterov momentum 0.9. The paper's CIFAR dropout of 0.3 between the convolutions is
# the default of the wrn_* models (their block_dropout option), so the recipe need not set it.
_WRN_SCHEDULE = {
    "data.augment": "cifar", "data.crop_padding": 4, "batch_size": 128, "epochs": 200,
    "optim.lr": 0.1, "optim.momentum": 0.9, "optim.nesterov": True,
    "optim.weight_decay": 5e-4, "schedule.name": "multistep",
    "schedule.milestone_epochs": (60, 120, 160), "schedule.gamma": 0.2,
}
# 300 epochs of batch 64, lr 0.1 divided by 10 at 50% and 75% of training, weight decay 1e-4,
# Nesterov momentum 0.9 (no dropout: the paper uses it only without data augmentation).
_DENSENET_SCHEDULE = {
    "data.augment": "cifar", "data.crop_padding": 4, "batch_size": 64, "epochs": 300,
    "optim.lr": 0.1, "optim.momentum": 0.9, "optim.nesterov": True,
    "optim.weight_decay": 1e-4, "schedule.name": "multistep",
    "schedule.milestone_epochs": (150, 225), "schedule.gamma": 0.1,
}


# Each family: name, summary, source, schedule, model name, its (depth, k) pairs.
_WIDE_FAMILIES = [
    ("wrn-{d}-{k}", "WRN-{d}-{k} (dropout 0.3) on {D}, 200 epochs", WRN_PAPER, _WRN_SCHEDULE,
     "wrn_{d}_{k}", ((28, 10), (40, 4), (16, 8))),
    ("densenet-bc-{d}-{k}", "DenseNet-BC (L={d}, k={k}) on {D}, 300 epochs", DENSENET_PAPER,
     _DENSENET_SCHEDULE, "densenet_bc_{d}_{k}", ((100, 12), (250, 24), (190, 40))),
]


def _wrn_and_densenet_recipes() -> list[Recipe]:
    return [Recipe(f"{dataset}-" + name.format(d=d, k=k),
                   summary.format(d=d, k=k, D=dataset.upper()), source,
                   {**schedule, "data.dataset": dataset, "model.name": model.format(d=d, k=k)})
            for dataset in ("cifar10", "cifar100")
            for name, summary, source, schedule, model, sizes in _WIDE_FAMILIES
            for d, k in sizes]


RECIPES.update({r.name: r for r in _wrn_and_densenet_recipes()})


# --- adversarial training -------------------------------------------------------------------

MADRY_PAPER = ("Madry et al. 2018, arXiv:1706.06083, Sec. 5 and the CIFAR-10 challenge "
               "config (github.com/MadryLab/cifar10_challenge)")
WONG_PAPER = "Wong, Rice & Kolter 2020, arXiv:2001.03994, Sec. 5 (CIFAR10/train_fgsm.py)"

# PGD adversarial training: 80k steps of batch 128, lr 0.1 / 10 at 40k and 60k, weight decay
# 2e-4; the attack is PGD-7 with step 2/255 from a random start in the 8/255 L-inf ball. The
# network is Madry et al.'s wide ResNet (5 residual units per stage, widening 10: WRN-34-10),
# without dropout.
_PGD_AT = {
    "model.name": "cifar_wrn", "model.depth": 34, "model.block_dropout": 0.0,
    "data.dataset": "cifar10", "data.augment": "cifar", "data.crop_padding": 4,
    "batch_size": 128, "optim.lr": 0.1, "optim.momentum": 0.9, "optim.weight_decay": 2e-4,
    "schedule.name": "step", "schedule.milestones": (40000, 60000), "schedule.gamma": 0.1,
    "iterations": 80000, "adv.method": "pgd", "adv.norm": "linf", "adv.eps": 8 / 255,
    "adv.step_size": 2 / 255, "adv.steps": 7, "adv.random_start": True,
}
# Fast adversarial training: FGSM from a uniform random start with step 1.25 eps = 10/255,
# 15 epochs of batch 128, weight decay 5e-4, one learning-rate cycle 0 -> 0.2 -> 0 (7.5 epochs
# each way), PreAct ResNet-18 with a CIFAR (3x3) stem.
_FAST_AT = {
    "model.name": "preact_resnet18", "model.stem": "cifar", "data.dataset": "cifar10",
    "data.augment": "cifar", "data.crop_padding": 4, "batch_size": 128, "epochs": 15,
    "optim.lr": 0.2, "optim.momentum": 0.9, "optim.weight_decay": 5e-4,
    "schedule.name": "cyclic", "schedule.cycle_peak": 0.5, "adv.method": "fgsm",
    "adv.norm": "linf", "adv.eps": 8 / 255, "adv.step_size": 10 / 255,
    "adv.random_start": True,
}
# The digits (16x16 after resizing, 17 grey levels of 15/255 each): the main job's recipe
# with the two attacks at eps 16/255, PGD's step eps/4 as in Madry et al.
_DIGITS_ADV = {"adv.eps": 16 / 255, "adv.norm": "linf", "adv.random_start": True}


def _adversarial_recipes() -> list[Recipe]:
    digits = RECIPES[DEFAULT_RECIPE].overrides
    return [
        Recipe("cifar10-pgd-at",
               "PGD adversarial training (PGD-7, eps 8/255) of WRN-34-10 on CIFAR-10, 80k steps",
               MADRY_PAPER, _PGD_AT),
        Recipe("cifar10-fast-at",
               "fast adversarial training (FGSM + random start, eps 8/255) of PreAct ResNet-18 on "
               "CIFAR-10, 15 epochs", WONG_PAPER, _FAST_AT),
        Recipe("digits-pgd-at", "the main job with PGD-7 adversarial training at eps 16/255",
               "this project (docs/robustness.md); the method: Madry et al. 2018",
               {**digits, **_DIGITS_ADV, "adv.method": "pgd", "adv.step_size": 4 / 255,
                "adv.steps": 7}),
        Recipe("digits-fast-at", "the main job with fast FGSM adversarial training at eps "
               "16/255", "this project (docs/robustness.md); the method: Wong et al. 2020",
               {**digits, **_DIGITS_ADV, "adv.method": "fgsm", "adv.step_size": 20 / 255}),
    ]


RECIPES.update({r.name: r for r in _adversarial_recipes()})


# --- keyword spotting and text classification (`resnets speech|text train` run these) -------

TANG_LIN = "Tang & Lin 2018, arXiv:1710.10361 (res8); the schedule: this project"
CONNEAU = "Conneau et al. 2017, arXiv:1606.01781 (VDCNN); a cosine schedule for the plateaus"
# Tang & Lin: SGD, momentum 0.9, weight decay 1e-5, lr 0.1 lowered over time. Conneau et al.:
# SGD, batch 128, lr 0.01, momentum 0.9, the lr halved on plateaus (here a cosine).
_APPLICATIONS = [  # name, summary, source, dataset, model, batch, epochs, lr, wd, warm-up
    ("speech-commands-res8", "res8 keyword spotting on a Speech Commands folder "
     "(data.root=DIR), 20 epochs", TANG_LIN, "speech", "res8", 64, 20, 0.1, 1e-5, 50),
    ("ag-news-vdcnn9", "VDCNN-9 on AG News-style CSV files (data.root=DIR), 15 epochs",
     CONNEAU, "text", "vdcnn9", 128, 15, 0.01, 0.0, 0),
]
RECIPES.update({name: Recipe(name, summary, source, {
    "data.dataset": dataset, "model.name": model, "batch_size": batch, "epochs": epochs,
    "optim.lr": lr, "optim.momentum": 0.9, "optim.weight_decay": wd, "schedule.name": "cosine",
    "schedule.warmup_iters": warmup, "eval_batch_size": 256})
    for name, summary, source, dataset, model, batch, epochs, lr, wd, warmup in _APPLICATIONS})

# --- today's ImageNet recipes: torchvision's and ResNet strikes back (modern_recipes.py) ----
RECIPES.update({name: Recipe(name, summary, source, overrides)
                for name, summary, source, overrides in modern_recipes()})


def recipe_text(name: str) -> str:
    """``resnets recipes --show NAME``: a recipe's summary, source and resolved config."""
    from .config import to_dict

    recipe = get_recipe(name)
    return (f"# {recipe.name}: {recipe.summary}\n# source: {recipe.source}\n"
            + json.dumps(to_dict(recipe_config(recipe.name)), indent=2))


def recipe_listing(task: str | None = None) -> list[str]:
    """``resnets recipes [--task T]``: a heading per task naming the command that runs its
    recipes, then a line per recipe; a blank line between the groups."""
    from .task import TASKS

    groups = recipes_by_task()
    if task and task not in groups:
        raise ResnetsError(f"no task {task!r}{did_you_mean(task, groups)}; the tasks: "
                           f"{', '.join(groups)}")
    shown = {task: groups[task]} if task else {t: r for t, r in groups.items() if r}
    width = max((len(r.name) for recipes in shown.values() for r in recipes), default=0)
    lines: list[str] = []
    for name, recipes in shown.items():
        command = TASKS[name].command if name in TASKS else TASK_COMMANDS.get(
            name, f"the {name} task's train command")
        lines += [""] if lines else []
        lines.append(f"{name} (`{command} --recipe NAME`):")
        lines += [f"{r.name:<{width}}  {r.summary}  [{r.source}]" for r in recipes]
        lines += [] if recipes else ["(none yet)"]
    return lines

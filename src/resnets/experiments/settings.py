"""What an experiment runs: its settings, and the training config of each member run.

Every member is a normal training run. Its config starts from the paper's CIFAR recipe
(He et al. 2015, Sec. 4.2: batch 128, SGD with momentum 0.9, weight decay 1e-4, lr 0.1 divided
by 10 at 50% and 75% of training), scaled to the experiment's budget, on the chosen data.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

from ..errors import ResnetsError
from ..limits import DEVICE, FLAG, SEED_MAX, TEXT, Limit, check_fields, choice, integers
from ..readback import check_keys, field_kinds, read_json
from ..train.config import TrainConfig, apply_overrides, parse_overrides
from ..train.engine import resolve_device
from ..train.recipes import get_recipe
from .names import NAMES

DATASETS = ("digits", "synthetic", "cifar10", "cifar100", "folder")
NEEDS_ROOT = ("cifar10", "cifar100", "folder")
SETTINGS_FILE = "experiment.json"
# Depth from which the paper warms up at lr 0.01 until the training error is below 80%.
WARMUP_DEPTH = 110
DIGITS_WARMUP = 50  # steps of linear lr warm-up on the digits (about 4.5 epochs)
# ResNet-110 diverges at lr 0.1 on the digits even with the warm-ups (measured); the
# experiments that train 110-layer nets to the end of a budget (responses, preact) use this
# peak lr there for every network they compare. (gradients looks at the first k steps only.)
DEEP_DIGITS_LR = 0.05


@dataclass(frozen=True)
class ExperimentConfig:
    name: str  # degradation | gradients | ... (names.NAMES)
    data: str = "digits"  # digits | synthetic | cifar10 | cifar100 | folder
    root: str = ""  # folder holding the dataset (cifar10, cifar100, folder)
    budget: str = ""  # training length: "N" steps or "Ne" epochs; "" = the default
    seeds: tuple[int, ...] = (0,)  # one member run per seed and network
    depths: tuple[int, ...] = ()  # layers of the networks (6n+2); () = the default
    with_1202: bool = False  # gradients: add the 1202-layer residual network
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    overrides: tuple[str, ...] = ()  # key=value training settings for every member
    runs: tuple[str, ...] = ()  # lesion: trained run directories, lesioned instead of training

    KEY: ClassVar[str] = "--{flag}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "name": choice(*NAMES), "data": choice(*DATASETS), "root": TEXT, "budget": TEXT,
        "seeds": Limit(int, 0, SEED_MAX, many=True), "depths": integers(1, 2000),
        "with_1202": FLAG, "device": DEVICE, "overrides": Limit(str, many=True),
        "runs": Limit(str, many=True),
    }

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class Member:
    """One training run of an experiment."""

    name: str  # run directory name inside <experiment>/runs
    labels: dict  # what the run stands for in tables: network, depth, seed, ...
    overrides: dict  # TrainConfig settings of this run on top of the experiment's base
    hooks: Callable[[], list] = list  # fresh engine hooks for the run


@dataclass(frozen=True)
class Budget:
    steps: int = 0  # optimiser steps (0 when given in epochs)
    epochs: int = 0  # passes over the training data (0 when given in steps)

    def text(self) -> str:
        return f"{self.steps} steps" if self.steps else f"{self.epochs} epochs"


def parse_budget(text: str) -> Budget:
    """``"400"`` -> 400 steps; ``"30e"``, ``"30ep"`` or ``"30epochs"`` -> 30 epochs."""
    match = re.fullmatch(r"\s*(\d+)\s*(e|ep|epochs?|s|steps?)?\s*", str(text).lower())
    if not match or int(match.group(1)) <= 0:
        raise ResnetsError(f"--budget {text!r} is not a positive number of steps or epochs; "
                           "write e.g. --budget 400 (steps) or --budget 30e (epochs)")
    unit = match.group(2) or "s"
    n = int(match.group(1))
    return Budget(epochs=n) if unit.startswith("e") else Budget(steps=n)


def parse_int_list(flag: str, text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(p) for p in text.replace(" ", "").split(",") if p)
    except ValueError:
        values = ()
    if not values:
        raise ResnetsError(f"{flag} {text!r} is not a comma-separated list of integers, "
                           f"e.g. {flag} 20,32,44")
    return values


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"3"`` -> seeds 0, 1, 2; ``"0,5"`` -> seeds 0 and 5."""
    values = parse_int_list("--seeds", text)
    if len(values) == 1 and "," not in text:
        if values[0] < 1:
            raise ResnetsError(f"--seeds {text!r}: give a count >= 1 or a list such as 0,1,2")
        return tuple(range(values[0]))
    if len(set(values)) != len(values) or min(values) < 0:
        raise ResnetsError(f"--seeds {text!r}: seeds must be distinct and >= 0")
    return values


def check_depths(depths: Sequence[int]) -> None:
    bad = [d for d in depths if d < 8 or (d - 2) % 6]
    if bad:
        raise ResnetsError(f"depth {bad[0]} is not a CIFAR network depth 6n+2 (8, 14, 20, 32, "
                           "44, 56, 110, ...); fix --depths")


def check(cfg: ExperimentConfig,
          depth_rule: Callable[[Sequence[int]], None] = check_depths) -> None:
    """Reject impossible settings before any run starts (``depth_rule``: what depths the
    experiment's networks can have; CIFAR ResNets' 6n+2 by default)."""
    resolve_device(cfg.device)  # e.g. cuda without a GPU
    if cfg.budget:
        parse_budget(cfg.budget)
    depth_rule(cfg.depths)
    if cfg.runs and cfg.name != "lesion":
        raise ResnetsError(f"--runs gives the lesion experiment its trained runs; {cfg.name} "
                           "trains its own: drop --runs")
    missing = [run for run in cfg.runs if not Path(run).is_dir()]
    if missing:
        raise ResnetsError(f"--runs {missing[0]!r} is not a run directory; give the folders "
                           "of trained runs (holding last.pt)")
    apply_overrides(TrainConfig(), parse_overrides(cfg.overrides))  # a wrong key fails now
    if cfg.data in NEEDS_ROOT and not cfg.root:
        raise ResnetsError(f"--data {cfg.data} needs --root, the folder holding the "
                           f"{cfg.data} files")
    if cfg.data in NEEDS_ROOT and not Path(cfg.root).is_dir():
        raise ResnetsError(f"--root {cfg.root!r} is not a folder; point it at the folder "
                           f"holding the {cfg.data} files")


def data_overrides(cfg: ExperimentConfig) -> dict[str, Any]:
    """How each dataset is read: the embedded digits at 16x16 with small shifts, CIFAR as
    in the paper (4-pixel pad, crop, flip), an image folder at 32x32."""
    if cfg.data == "digits":
        # Without the linear warm-up, ResNet-56 diverges in its first steps at lr 0.1 on the
        # digits (at 16x16 and at 32x32); the plain nets get the same warm-up.
        return {"data.dataset": "digits", "data.resize": 16, "data.augment": "crop",
                "data.crop_padding": 2, "schedule.warmup_iters": DIGITS_WARMUP}
    if cfg.data == "synthetic":
        return {"data.dataset": "synthetic", "data.augment": "none"}
    if cfg.data == "folder":
        return {"data.dataset": "folder", "data.root": cfg.root, "data.image_size": 32}
    return {"data.dataset": cfg.data, "data.root": cfg.root}


def deep_net_overrides(cfg: ExperimentConfig) -> dict[str, Any]:
    """The lr of experiments that train 110-layer networks (see DEEP_DIGITS_LR)."""
    return {"optim.lr": DEEP_DIGITS_LR} if cfg.data == "digits" else {}


def schedule_overrides(recipe: dict, budget: Budget) -> dict[str, Any]:
    """The recipe's lr drops moved to the same fractions of ``budget``."""
    fractions = [m / recipe["iterations"] for m in recipe["schedule.milestones"]]
    length = budget.steps or budget.epochs
    points = tuple(sorted({max(1, round(f * length)) for f in fractions}))
    if budget.steps:
        return {"iterations": budget.steps, "schedule.name": "step",
                "schedule.milestones": points}
    return {"iterations": 0, "epochs": budget.epochs, "schedule.name": "multistep",
            "schedule.milestone_epochs": points}


def member_config(cfg: ExperimentConfig, budget: Budget, member: Member,
                  runs_dir: Path) -> TrainConfig:
    """The full training config of one member run."""
    paper = "cifar100" if cfg.data == "cifar100" else "cifar10"
    recipe = get_recipe(f"{paper}-resnet20")
    base = {k: v for k, v in recipe.overrides.items() if k != "model.name"}
    settings = {**base, **data_overrides(cfg), **schedule_overrides(recipe.overrides, budget),
                "device": cfg.device, "out_dir": str(runs_dir), "run_name": member.name,
                "source": f"{recipe.source}; resnets experiment {cfg.name}",
                **member.overrides}
    if member.labels.get("depth", 0) >= WARMUP_DEPTH:
        warmup = get_recipe(f"{paper}-resnet{WARMUP_DEPTH}").overrides
        settings.update({k: v for k, v in warmup.items() if k.startswith("schedule.warmup")})
    settings.update(parse_overrides(cfg.overrides))
    return apply_overrides(TrainConfig(), settings)


def save_settings(cfg: ExperimentConfig, directory: Path) -> None:
    data = dataclasses.asdict(cfg)
    (directory / SETTINGS_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def load_settings(directory: Path) -> ExperimentConfig | None:
    path = Path(directory) / SETTINGS_FILE
    if not path.is_file():
        return None
    fix = "run the experiment afresh into another --out folder"
    data = read_json(path, "experiment settings", fix)
    check_keys(data, field_kinds(ExperimentConfig), f"experiment settings {str(path)!r}")
    return ExperimentConfig(**{k: tuple(v) if isinstance(v, list) else v
                               for k, v in data.items()})


def command_line(cfg: ExperimentConfig, out_dir: Path | None = None) -> str:
    """The `resnets experiment` command that runs ``cfg``."""
    words = ["resnets", "experiment", cfg.name, "--data", cfg.data]
    if cfg.root:
        words += ["--root", cfg.root]
    if cfg.budget:
        words += ["--budget", cfg.budget]
    if cfg.seeds != (0,):
        words += ["--seeds", ",".join(map(str, cfg.seeds))]
    if cfg.depths:
        words += ["--depths", ",".join(map(str, cfg.depths))]
    if cfg.with_1202:
        words.append("--with-1202")
    if cfg.device != "auto":
        words += ["--device", cfg.device]
    if cfg.runs:
        words += ["--runs", ",".join(cfg.runs)]
    if out_dir is not None:
        words += ["--out", str(out_dir)]
    return shlex.join(words + list(cfg.overrides))

"""Training configuration: one frozen, typed dataclass per concern.

A recipe (``recipes.py``) overrides the base values; the command line overrides the recipe with
``section.field=value`` pairs, each checked against the field's type before anything runs.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Sequence

from ..errors import ResnetsError, did_you_mean
from ..limits import (BATCH_MAX, DEVICE, FLAG, SEED, TEXT, Limit, check_fields, choice, integer,
                      keyed_as, parse_number)
from ..readback import note_defaults
from .schedules import ScheduleConfig
# re-exported: callers import them here
from .sections import (IMAGE_SIDE_MAX, OPTIMIZERS, AdversarialConfig, DataConfig,  # noqa: F401
                       DistillConfig, GateConfig, LogConfig, ModelConfig,
                       OptimConfig, QuantConfig)  # re-exported: callers import here

# Each task's name in config.json and checkpoints -> the command that trains it.
TASK_COMMANDS = {"classification": "resnets train", "detection": "resnets detect train",
                 "segmentation": "resnets segment train", "continual": "resnets continual",
                 "metric": "resnets metric train",
                 "selfsup": "resnets pretrain train", "gan": "resnets gan train",
                 "translate": "resnets translate train",
                 "super-resolution": "resnets sr train"}


@dataclass(frozen=True)
class EngineConfig:
    """What every task's run is made of besides the task's own sections: how long, how fast,
    where and on what. A task's configuration is a subclass that adds its sections (and may
    give these fields other defaults)."""

    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    epochs: int = 30  # passes over the training data (ignored when iterations > 0)
    iterations: int = 0  # optimiser steps in total; > 0 overrides epochs (the paper: 64000)
    batch_size: int = 128  # the global batch: samples per optimiser step, all processes together
    sync_bn: bool = False  # several processes: BatchNorm statistics of the global batch
    dist_timeout: int = 600  # seconds a process waits for the others before it fails
    eval_batch_size: int = 512  # samples per evaluation step
    seed: int = 0  # seeds weights, data order and augmentation
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast; fp16 with loss scaling) | auto
    channels_last: bool = True  # NHWC for 4-D inputs: faster convolutions (oneDNN, tensor cores)
    compile: bool = False  # torch.compile the model
    deterministic: bool = False  # deterministic kernels: bitwise-repeatable runs on CPU
    out_dir: str = "runs"  # parent directory of run directories
    run_name: str = ""  # run directory name; "" = recipe (or model) and time
    checkpoint_every: int = 0  # also save a checkpoint every N steps; 0 = epoch ends only
    eval_every: int = 1  # epochs between evaluations; 0 = only after the last epoch
    recipe: str = ""  # the recipe this configuration came from
    source: str = ""  # the paper or page the recipe follows
    log: LogConfig = field(default_factory=LogConfig)  # MLflow / W&B reporting (tracking.py)

    LIMITS: ClassVar[dict[str, Limit]] = {
        "epochs": integer(0, 100_000), "iterations": integer(0), "batch_size":
        integer(1, BATCH_MAX), "sync_bn": FLAG, "dist_timeout": integer(1, 7 * 24 * 3600),
        "eval_batch_size": integer(1, BATCH_MAX), "seed": SEED, "device": DEVICE,
        "precision": choice("fp32", "bf16", "fp16", "auto"), "channels_last": FLAG,
        "compile": FLAG,
        "deterministic": FLAG, "out_dir": TEXT, "run_name": TEXT,
        "checkpoint_every": integer(0), "eval_every": integer(0, 100_000), "recipe": TEXT,
        "source": TEXT,
    }

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class TrainConfig(EngineConfig):
    """Image, audio and text classification (``resnets train``)."""

    TASK: ClassVar[str] = "classification"

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    adv: AdversarialConfig = field(default_factory=AdversarialConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    gate: GateConfig = field(default_factory=GateConfig)


DATA_MODALITY = {"speech": "audio", "text": "text"}  # data.dataset -> its models' modality


def sections(cls: type) -> dict[str, type]:
    """The fields of the configuration class ``cls`` that are sections (``optim``, ``model``):
    dataclasses of their own, set as ``section.field``."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)
            if dataclasses.is_dataclass(hints[f.name])}


SECTIONS = sections(TrainConfig)


def to_dict(cfg: Any) -> dict:
    """A JSON-ready nested dict of a config (tuples become lists), led by the ``task`` it
    configures when its class names one."""
    task = {"task": cfg.TASK} if hasattr(cfg, "TASK") else {}
    return {**task, **json.loads(json.dumps(dataclasses.asdict(cfg)))}


def without_task(data: dict[str, Any], cls: type, source: str) -> dict[str, Any]:
    """``data`` less its ``task`` key, which must name the task of ``cls`` when present: the
    configuration of another task's run is one line naming the command that trains it."""
    if "task" not in data:
        return data
    if data["task"] != getattr(cls, "TASK", None):
        command = TASK_COMMANDS.get(data["task"]) if isinstance(data["task"], str) else None
        fix = f"pass it to `{command}`" if command else "it was not written by resnets"
        raise ResnetsError(f"{source} configures a {data['task']!r} run, not "
                           f"{getattr(cls, 'TASK', cls.__name__)}; {fix}")
    return {k: v for k, v in data.items() if k != "task"}


def from_dict(data: Any, source: str = "the configuration",
              cls: type = TrainConfig) -> Any:
    """Rebuild a configuration of class ``cls`` from :func:`to_dict` output (e.g. a run's
    config.json).

    What was read back is checked like user input: no setting unknown, each of its type; a
    fault is one line that starts with ``source``. A setting it lacks (the run was written
    before the setting existed) takes its default, said once in a notice line.
    """
    if not isinstance(data, dict):
        raise ResnetsError(f"{source} is a {type(data).__name__}, not a dict of settings")
    data = without_task(data, cls, source)
    types_, pairs = field_types(cls), dotted_pairs(data, sections(cls), source)
    unknown = [k for k in pairs if k not in types_]
    if unknown or not pairs:
        wrong = "unknown settings " + ", ".join(unknown) if unknown else "no settings"
        raise ResnetsError(f"{source} has {wrong}; it was not written by this version of "
                           "resnets")
    for key, value in pairs.items():  # written as JSON: a number is never a string
        if isinstance(value, str) and types_[key] is not str:
            raise ResnetsError(f"{source}: {key}={value!r} is not a valid "
                               f"{_type_name(types_[key])}")
    try:
        cfg = apply_overrides(cls(), pairs)
    except ResnetsError as exc:
        raise ResnetsError(f"{source}: {exc}") from None
    note_defaults(source, {key: setting_value(cfg, key) for key in types_ if key not in pairs})
    return cfg


def setting_value(cfg: Any, key: str) -> Any:
    """The value of the dotted setting ``key`` (``optim.lr``, ``epochs``) in ``cfg``."""
    section, _, name = key.partition(".")
    return getattr(getattr(cfg, section), name) if name else getattr(cfg, section)


def dotted_pairs(data: dict[str, Any], sections: Iterable[str], source: str) -> dict[str, Any]:
    """``{"optim": {"lr": 0.1}, "epochs": 3}`` -> ``{"optim.lr": 0.1, "epochs": 3}``; a
    section that is not a dict is one line starting with ``source``."""
    pairs: dict[str, Any] = {}
    for key, value in data.items():
        if key in sections and not isinstance(value, dict):
            raise ResnetsError(f"{source}: {key!r} is a {type(value).__name__}, not a dict of "
                               f"{key}.* settings")
        if key in sections:
            pairs.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            pairs[str(key)] = value
    return pairs


def field_types(cls: type = TrainConfig) -> dict[str, Any]:
    """Every overridable dotted key of the configuration class ``cls`` and its type."""
    hints, parts = typing.get_type_hints(cls), sections(cls)
    out = {}
    for f in dataclasses.fields(cls):
        if f.name in parts:
            sub = typing.get_type_hints(parts[f.name])
            out.update({f"{f.name}.{g.name}": sub[g.name]
                        for g in dataclasses.fields(parts[f.name])})
        else:
            out[f.name] = hints[f.name]
    return out


def parse_value(key: str, text: Any, typ: Any) -> Any:
    """Convert ``text`` to ``typ`` (bool, int, float, str, tuple[int, ...]) or raise."""
    if not isinstance(text, str):
        if isinstance(text, list):
            text = tuple(text)
        return _check_type(key, text, typ)
    origin = typing.get_origin(typ)
    try:
        if typ is bool:
            low = text.lower()
            if low not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise ValueError
            return low in ("true", "1", "yes", "on")
        if typ is int:
            return int(text)
        if typ is float:
            return parse_number(text)
        if typ is str:
            return text
        if origin is tuple:
            item = typing.get_args(typ)[0]
            parts = [p for p in text.replace(" ", "").strip("()[]").split(",") if p]
            return tuple(item(p) for p in parts)
    except (ValueError, ZeroDivisionError):
        pass
    raise ResnetsError(f"{key}={text!r} is not a valid {_type_name(typ)}")


def _check_type(key: str, value: Any, typ: Any) -> Any:
    if typing.get_origin(typ) is tuple:
        item = typing.get_args(typ)[0]
        if isinstance(value, tuple) and all(isinstance(v, item) for v in value):
            return value
    elif typ is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif isinstance(value, typ) and not (typ is int and isinstance(value, bool)):
        return value
    raise ResnetsError(f"{key}={value!r} is not a valid {_type_name(typ)}")


def _type_name(typ: Any) -> str:
    if typing.get_origin(typ) is tuple:
        return "comma-separated list of " + typing.get_args(typ)[0].__name__
    if isinstance(typ, types.UnionType):
        return str(typ)
    return {bool: "boolean (true/false)", int: "integer", float: "number"}.get(
        typ, getattr(typ, "__name__", str(typ)))


def apply_overrides(cfg: Any, overrides: dict[str, Any]) -> Any:
    """A new config with dotted ``overrides`` applied, each type-checked."""
    types_ = field_types(type(cfg))
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, raw in overrides.items():
        if key not in types_:
            raise ResnetsError(f"unknown setting {key!r}{did_you_mean(key, types_)}; "
                               "`resnets recipes --show NAME` lists the settings")
        value = parse_value(key, raw, types_[key])  # its limit is checked as it is set
        section, _, name = key.partition(".")
        if name:
            nested.setdefault(section, {})[name] = value
        else:
            top[key] = value
    for section, values in nested.items():
        current = getattr(cfg, section)
        with keyed_as(type(current), f"{section}.{{name}}"):  # d_optim is an OptimConfig
            top[section] = dataclasses.replace(current, **values)
    return dataclasses.replace(cfg, **top)


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """``["optim.lr=0.05", "epochs=3"]`` -> ``{"optim.lr": "0.05", "epochs": "3"}``."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ResnetsError(f"override {pair!r} must look like key=value, "
                               "e.g. optim.lr=0.05")
        out[key.strip()] = value.strip()
    return out


def validate(cfg: TrainConfig) -> None:
    """Reject settings that do not go together, an unknown model or a missing device, before
    any work starts (each field's own limit was checked when the config was made)."""
    from .device import resolve_device

    check_settings(cfg)
    resolve_device(cfg.device)


def check_engine_settings(cfg: EngineConfig) -> None:
    """What every task's run needs of the engine's fields, besides their limits."""
    if not (cfg.epochs > 0 or cfg.iterations > 0):
        raise ResnetsError("set epochs or iterations to a positive number")


def check_settings(cfg: TrainConfig) -> None:
    """:func:`validate` without the device: for a run's config read on another machine (a
    checkpoint trained on a GPU is evaluated where there is none)."""
    from ..models.blocks import canonical_shortcut
    from ..models.registry import check_modality

    check_engine_settings(cfg)
    info = check_modality("model.name", cfg.model.name,
                          DATA_MODALITY.get(cfg.data.dataset, "image"),
                          f"{cfg.data.dataset} data")
    if cfg.model.shortcut:
        canonical_shortcut(cfg.model.shortcut)
    if cfg.gate != GateConfig() and info.family != "gated":
        raise ResnetsError(f"gate.* trains the gates of a gated model, and {cfg.model.name} has "
                           "none: use e.g. model.name=resnet56_gated or drop the gate settings")
    if cfg.optim.loss == "bce" and cfg.adv.method != "none":
        raise ResnetsError("adversarial training (adv.method) attacks the cross-entropy loss; "
                           "set optim.loss=ce")
    if cfg.distill.teacher and (cfg.adv.method != "none" or cfg.data.mixup_alpha
                                or cfg.data.cutmix_alpha):
        raise ResnetsError("distill.teacher distills on the batch as loaded; mixup, CutMix "
                           "and adversarial training change it first: drop them or the teacher")
    if cfg.distill.attention and not cfg.distill.teacher:
        raise ResnetsError("distill.attention transfers a teacher's attention maps; give "
                           "distill.teacher=RUN_DIR or drop distill.attention")
    if cfg.model.bn_l1 and cfg.model.norm != "batch":
        raise ResnetsError("model.bn_l1 penalises BatchNorm scales; set model.norm=batch or "
                           "drop model.bn_l1")
    if cfg.optim.bce_threshold and cfg.optim.loss != "bce":
        raise ResnetsError("optim.bce_threshold binarises the targets of optim.loss=bce; set "
                           "optim.loss=bce or drop the threshold")
    d = cfg.data
    if d.dataset in DATA_MODALITY and (d.policy != "none" or d.erasing or d.repeated_aug > 1):
        raise ResnetsError(f"data.policy, data.erasing and data.repeated_aug augment images, "
                           f"not {DATA_MODALITY[d.dataset]}; drop them for {d.dataset} data")
    if cfg.quant.qat:
        from .qat import check_qat

        check_qat(cfg)
    if cfg.data.eval_flip and cfg.data.dataset in DATA_MODALITY:
        raise ResnetsError(f"data.eval_flip mirrors images, and {cfg.data.dataset} data has "
                           "none; drop data.eval_flip")

"""Every setting refuses a wrong type, a negative, zero, NaN, inf and an absurd value.

Three walks, all by introspection, so a new field or option without a limit fails here:

* every field of every configuration (``resnets train key=value`` for TrainConfig, the
  dataclass itself for the others) gets each bad value of its type;
* every option of every command (the argparse tree, the applications' parsers included)
  gets each bad value of its kind, with the command's other required arguments present;
* every configuration dataclass of the package states a limit for each of its fields.

A bad value must give exit status 2 (or a ResnetsError), one line that names the setting, no
traceback, and nothing written. A value that is valid for a setting (0 meaning "off") is
listed in VALID with the reason.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil

import pytest

import resnets
from command_tree import commands, options, run
from resnets.bench import SuiteConfig
from resnets.cli import TRAIN_FLAGS
from resnets.continual.config import ContinualConfig, ContinualSettings
from resnets.detection.cli import TRAIN as DETECT_TRAIN
from resnets.data.shapes import ShapesConfig
from resnets.data.views import ViewsConfig
from resnets.detection.config import DetectionConfig, DetectionDataConfig
from resnets.detection.models import DetectorConfig
from resnets.errors import ResnetsError
from resnets.experiments.command import NAMES
from resnets.experiments.settings import ExperimentConfig
from resnets.gan.cli import TRAIN as GAN_TRAIN
from resnets.gan.config import GanConfig, GanDataConfig, GanEvalConfig, GanModelConfig
from resnets.limits import setting_key
from resnets.metric.cli import TRAIN as METRIC_TRAIN
from resnets.metric.config import MetricConfig, MetricDataConfig, MetricSettings
from resnets.robust.evaluate import AttackSettings
from resnets.segmentation.config import SegmentationConfig, SegmentationDataConfig
from resnets.segmentation.cli import TRAIN as SEGMENT_TRAIN
from resnets.segmentation.models import SegmenterConfig
from resnets.selfsup.config import SelfSupConfig, SelfSupDataConfig, SelfSupSettings
from resnets.speech.demo import DemoConfig
from resnets.sr.cli import TRAIN as SR_TRAIN
from resnets.sr.config import NetworkConfig, SRConfig, SRDataConfig
from resnets.text.demo import TextDemoConfig
from resnets.train.config import EngineConfig, TrainConfig, field_types
from resnets.train.dense import DenseConfig
from resnets.translate.cli import TRAIN as TRANSLATE_TRAIN
from resnets.translate.config import PairedDataConfig, TranslateConfig, TranslatorConfig
from resnets.train.config import sections as config_sections

HUGE = 10**20  # beyond 64 bits
# The shorthand flags of train commands: a bad value's message names the setting it sets.
FLAG_KEYS = {("train",): TRAIN_FLAGS, ("detect", "train"): DETECT_TRAIN.flags,
             ("segment", "train"): SEGMENT_TRAIN.flags, ("metric", "train"): METRIC_TRAIN.flags,
             ("sr", "train"): SR_TRAIN.flags, ("gan", "train"): GAN_TRAIN.flags,
             ("translate", "train"): TRANSLATE_TRAIN.flags}
CONFIGS = {cls: cls() for cls in (DetectorConfig, SegmenterConfig, DetectionDataConfig,
                                  SegmentationDataConfig, ShapesConfig, ContinualSettings,
                                  SuiteConfig, DemoConfig, TextDemoConfig, MetricSettings,
                                  MetricDataConfig, SelfSupSettings, SelfSupDataConfig,
                                  ViewsConfig, NetworkConfig, SRDataConfig,
                                  GanModelConfig, GanDataConfig, GanEvalConfig,
                                  TranslatorConfig, PairedDataConfig)}
CONFIGS[AttackSettings] = AttackSettings(eps=0.1)
CONFIGS[ExperimentConfig] = ExperimentConfig("degradation")
SECTIONS = {type(getattr(TrainConfig(), f.name)) for f in dataclasses.fields(TrainConfig)
            if dataclasses.is_dataclass(getattr(TrainConfig(), f.name))}
# Dataclasses named like settings that are not settings a user gives.
NOT_SETTINGS = {
    "FeatureConfig": "the fixed front end of the speech models (40 x 101 log-mel)",
    "AugmentConfig": "the speech training augmentation, fixed (data.augment turns it off)",
}

# Bad values that a setting takes on purpose: (setting, value) -> why. A setting whose name
# means different things in different places is qualified: "COMMAND --flag", "Class --flag".
OFF = "0 turns it off"
VALID = {
    **{(k, "0"): OFF for k in (
        "model.drop_rate", "model.drop_path_rate", "model.block_dropout", "data.val_size",
        "data.mixup_alpha", "data.cutmix_alpha", "data.crop_padding", "optim.momentum",
        "optim.weight_decay", "eval_every",
        "optim.label_smoothing", "optim.grad_clip", "optim.ema_decay", "adv.eps",
        "optim.swa_start", "optim.swa_lr",
        "optim.scale_lr_with_batch", "checkpoint_every", "iterations", "data.workers",
        "schedule.min_lr", "schedule.warmup_iters", "schedule.warmup_lr",
        "schedule.warmup_until_error", "schedule.warmup_epochs", "data.erasing",
        "optim.bce_threshold", "model.bn_l1", "distill.weight", "distill.attention",
        "--warmup-iters",
        "--clip-grad", "--eval-every",
        "--momentum", "--weight-decay", "--threads", "--limit", "--step-size", "--eps",
        "--ewc-lambda", "--lwf-alpha", "continual.ewc_lambda", "continual.lwf_alpha",
        "continual.resize", "--fillers", "--distractors", "--typo-rate",
        "--score-threshold", "--noise-level", "--resize", "--output-stride",
        "--trainable-layers", "--threshold", "optim.backbone_lr_scale", "--freeze",
        "model.freeze_stages", "detect train --workers",
        "segment train --workers", "sr train --workers", "embed --workers", "probe --workers",
        "detector.trainable_layers", "segmenter.trainable_layers", "segmenter.output_stride",
        "detector.score_threshold", "metric.dim", "--dim", "--per-identity",
        "views.flip", "views.jitter", "views.brightness", "views.contrast", "views.saturation",
        "views.hue", "views.gray", "views.blur", "views.solarize")},
    **{(k, v): "margin 0: the normalised softmax; -1: the loss's usual margin"
       for k in ("metric.margin", "--margin") for v in ("0", "-1")},
    **{(k, "0"): "0 = the run's, model's or data's own" for k in (
        "model.depth", "model.num_classes", "data.resize", "attack --batch-size",
        "embed --image-size", "probe --image-size", "segment train --num-classes",
        "segment train --crop-size", "data.crop_size", "data.num_classes",
        "data.eval_resize", "data.eval_size",
        *(f"{prefix}{name}" for prefix in ("network.", "--") for name in (
            "blocks", "features", "res_scale", "layers", "res-scale")))},
    ("data.randaugment_magnitude", "0"): "magnitude bin 0, the weakest, is a magnitude",
    ("eval.samples", "0"): "0 generated samples: as many as the held-out images",
    ("translator.blocks", "0"): "no residual blocks: the encoder-decoder alone",
    ("translator.l1_weight", "0"): "no L1 term: the adversarial loss alone",
    **{(k, "0"): "seed 0 is a seed" for k in ("seed", "--seed", "--class-order-seed",
                                             "continual.class_order_seed", "--seeds")},
    ("--pitch", "0"): "espeak-ng's lowest pitch",
    ("gate.weight", "0"): "no rate loss: the gates learn from the cross-entropy alone",
    ("gate.target", "0"): "a target rate of 0: every gate learns to skip",
    ("--noise", "0"): "noise 0: the clean images again",
    **{(k, "-1"): "-1 = the model's own / label order / the default side" for k in (
        "model.block_dropout", "model.freeze_stages", "--freeze", "--class-order-seed",
        "--resize", "continual.class_order_seed", "continual.resize", "--trainable-layers",
        "segmenter.trainable_layers")},
}
# Free text: names and paths, read where they are used (bad ones fail there, in one line).
FREE_TEXT = {"data.root", "model.pretrained", "out_dir", "run_name", "recipe", "source",
             "--root", "--out", "--name", "--run-name", "--weights", "--out-dir",
             "--train-images", "--val-images", "--images", "--data", "--train", "--val",
             "--checkpoint", "--resume", "--pretrained", "--attacks", "--strategy",
             "--budget", "--seeds", "--depths", "--models", "--show", "--recipe",
             "--model", "--backbone", "--words", "overrides", "--config", "data.val_root",
             "log.mlflow", "log.wandb", "log.experiment", "--pairs", "--classifier", "--runs"}
# ... but a few get a wrong value all the same, to prove they are read before any work.
TEXT_BAD = {"model.name": ["res9000"], "model.shortcut": ["Z"], "--model": ["res9000"],
            "--backbone": ["res9000"], "--recipe": ["cifar10-resnet21"],
            "--show": ["cifar10-resnet21"], "--strategy": ["replya"], "--budget": ["-5"],
            "--seeds": ["-1"], "--depths": ["21"], "--attacks": ["sqare"],
            "experiment transformer-skips --depths": ["60"],  # 1 to 48 blocks
            "--stage": ["layer9"], "explain --class": ["no-such-class"],
            "--models": ["resnet19"], "train --data": ["cifar11"],
            "--config": ["no-such.yaml"],
            "continual --data": ["cifar11"], "recipes --task": ["detectoin"],
            "--classes": ["a-3"], "data.classes": ["a-3"], "distill.teacher": ["no-such-run"],
            **{f"experiment {name} --data": ["cifar11"] for name in NAMES}}

TEXT_VALUES = {int: ["abc", "-1", "0", str(HUGE)],
               float: ["abc", "-1", "0", "nan", "inf", "1e308"],
               bool: ["maybe"]}


def cli_values(keys: list[str], kind: type, device: bool, choices) -> list:
    """The bad values, as text, for a setting known as any of ``keys``."""
    if device:
        return ["nonsense", "mps", "cuda:99"]
    if choices:
        return ["nonsense"]
    if kind is str:
        assert any(k in FREE_TEXT or k in TEXT_BAD for k in keys), f"{keys}: no limit"
        return [v for k in keys for v in TEXT_BAD.get(k, [])][:1]
    return [v for v in TEXT_VALUES[kind] if not any((k, v) in VALID for k in keys)]


def config_cases():
    types_ = field_types()
    for key, typ in types_.items():
        section, _, name = key.rpartition(".")
        cls = {c.KEY.split(".")[0]: c for c in SECTIONS}.get(section, TrainConfig)
        limit = cls.LIMITS[name]
        kind = int if limit.many else limit.kind
        for value in cli_values([key], kind, limit.device, limit.choices):
            yield pytest.param(key, value, id=f"{key}={value}")


@pytest.mark.parametrize("key, value", list(config_cases()))
def test_every_train_setting_refuses_bad_values(key, value, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # Last wins: cifar10 from a missing folder, unless the bad value is one of those.
    assert run(["train", "data.dataset=cifar10", "data.root=none",
                f"out_dir={tmp_path / 'runs'}", f"{key}={value}"]) == 2
    one_line_naming(capsys.readouterr().err, {key, key.rpartition(".")[2]}, value)
    assert not any(tmp_path.iterdir())


PY_VALUES = {int: ["7", 2.5, True, -1, 0, HUGE],
             float: ["0.5", -1.0, 0.0, math.nan, math.inf, 1e308],
             bool: ["yes", 1], str: [3]}


def dataclass_cases():
    for cls, base in CONFIGS.items():
        for f in dataclasses.fields(cls):
            limit = cls.LIMITS[f.name]
            key = setting_key(cls, f.name)
            values = list(PY_VALUES[limit.kind])
            if limit.choices or limit.device:
                values.append("nonsense")
            if limit.many:
                values = [(v,) for v in values] + ["1,2"]
            for value in values:
                text = str(value[0] if limit.many else value).lower()
                text = {"0.0": "0", "-1.0": "-1"}.get(text, text)
                if (key, text) not in VALID and (f"{cls.__name__} {key}", text) not in VALID:
                    yield pytest.param(cls, base, f.name, value, id=f"{key}={value!r}")


@pytest.mark.parametrize("cls, base, name, value", list(dataclass_cases()))
def test_every_config_field_refuses_bad_values(cls, base, name, value):
    with pytest.raises(ResnetsError) as err:
        dataclasses.replace(base, **{name: value})
    assert "\n" not in str(err.value)
    assert str(err.value).startswith(f"{setting_key(cls, name)} must be ")


def option_cases():
    for path, parser in commands():
        for action in options(parser):
            flag = max(action.option_strings, key=len)
            parse = action.type
            limit = getattr(parse, "limit", None)
            keys = [f"{' '.join(path)} {flag}", flag]
            if action.dest in FLAG_KEYS.get(path, {}):
                keys.append(FLAG_KEYS[path][action.dest])
            if action.choices:
                values = ["nonsense"]
            elif limit is not None:
                values = cli_values(keys, int if limit.many else limit.kind, limit.device,
                                    limit.choices)
            elif parse in (int, float):  # `train` shorthands: checked by the config
                values = cli_values(keys, parse, False, ())
            else:
                values = cli_values(keys, str, flag == "--device", ())
            for value in values:
                yield pytest.param(path, action, value, id=f"{' '.join(path)} {flag} {value}")


# The other arguments each command needs: paths that do not exist, so that a value that
# slipped through fails on them (naming them, not the option), never trains or writes.
NEEDS = {
    ("train",): ["--data", "cifar10", "--root", "{tmp}/none"],
    ("evaluate",): ["{tmp}/no-run"], ("predict",): ["{tmp}/x.png", "--checkpoint", "{tmp}/r"],
    ("bench",): ["--models", "resnet20", "--out", "{tmp}/b.json"],
    ("export",): ["--model", "resnet20", "--weights", "{tmp}/w.pt", "--format", "onnx",
                  "--out", "{tmp}/m.onnx"],
    ("embed",): ["{tmp}/none", "--out", "{tmp}/f.npz", "--model", "resnet20",
                 "--weights", "none"],
    ("probe",): ["{tmp}/none", "--model", "resnet20", "--weights", "none"],
    ("explain",): ["{tmp}/x.png", "--model", "resnet20", "--weights", "none"],
    ("attack",): ["--checkpoint", "{tmp}/no-run", "--eps", "0.1"],
    ("prune",): ["{tmp}/no-run", "--target-macs", "0.5"],
    ("continual",): ["--data", "cifar10", "--root", "{tmp}/none", "--out", "{tmp}/runs"],
    ("pretrain", "train"): ["--dataset", "cifar10", "--root", "{tmp}/none", "--out",
                            "{tmp}/runs"],
    ("pretrain", "knn"): ["{tmp}/no-run", "--dataset", "cifar10", "--root", "{tmp}/none"],
    ("detect", "synth"): ["{tmp}/synth"], ("segment", "synth"): ["{tmp}/synth"],
    ("detect", "train"): ["--train", "{tmp}/a.json", "--val", "{tmp}/b.json"],
    ("segment", "train"): ["--train", "{tmp}/a", "--val", "{tmp}/b"],
    ("speech", "demo"): ["{tmp}/demo"], ("text", "demo"): ["{tmp}/demo"],
    ("speech", "train"): ["--root", "{tmp}/none"], ("text", "train"): ["--root", "{tmp}/n"],
    ("metric", "train"): ["--dataset", "cifar10", "--root", "{tmp}/none", "--out", "{tmp}/r"],
    ("metric", "pairs"): ["{tmp}/pairs"], ("verify",): ["{tmp}/none", "--checkpoint", "{tmp}/r"],
    ("speech", "predict"): ["{tmp}/x.wav", "--checkpoint", "{tmp}/r"],
    ("text", "predict"): ["words", "--checkpoint", "{tmp}/r"],
    ("sr", "photos"): ["{tmp}/photos"],
    ("sr", "train"): ["--train", "{tmp}/a", "--val", "{tmp}/b"],
    ("gan", "train"): ["--classifier", "{tmp}/no-run"], ("gan", "sample"): ["{tmp}/no-run"],
    ("translate", "synth"): ["{tmp}/synth"],
    ("translate", "train"): ["--train", "{tmp}/a", "--val", "{tmp}/b"],
    ("translate", "predict"): ["{tmp}/x.png", "--checkpoint", "{tmp}/r"],
}
for _action in ("detect", "segment", "sr"):
    NEEDS[(_action, "evaluate")] = ["{tmp}/no-run"]
    NEEDS[(_action, "predict")] = ["{tmp}/x.png", "--checkpoint", "{tmp}/r"]
for _app in ("speech", "text"):
    NEEDS[(_app, "evaluate")] = ["{tmp}/no-run"]
for _name in NAMES:
    NEEDS[("experiment", _name)] = ["--data", "cifar10", "--root", "{tmp}/none"]


@pytest.mark.parametrize("path, action, value", list(option_cases()))
def test_every_option_refuses_bad_values(path, action, value, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    need = [a.format(tmp=tmp_path) for a in NEEDS.get(path, [])]
    flag = max(action.option_strings, key=len)
    assert run([*path, *need, flag, str(value)]) == 2
    names = {action.dest, flag.lstrip("-")}
    if action.dest in FLAG_KEYS.get(path, {}):
        names.add(FLAG_KEYS[path][action.dest])
    one_line_naming(capsys.readouterr().err, names, value if flag in TEXT_BAD else None)
    assert not any(tmp_path.iterdir())


def one_line_naming(err: str, names: set[str], value) -> None:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    said = err.replace("-", "_")
    assert any(n.replace("-", "_") in said for n in names) or (
        value is not None and str(value) in err), err


def test_every_settings_dataclass_states_a_limit_for_each_field():
    found = {}
    for info in pkgutil.walk_packages(resnets.__path__, "resnets."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional dependency (the bench's onnxruntime, ...)
            continue
        for name, obj in vars(module).items():
            if (dataclasses.is_dataclass(obj) and isinstance(obj, type)
                    and name.endswith(("Config", "Settings")) and name not in NOT_SETTINGS
                    and obj.__module__.startswith("resnets.")):
                found[name] = obj
    assert set(found.values()) == {EngineConfig, TrainConfig, ContinualConfig, DenseConfig,
                                   DetectionConfig, SegmentationConfig, MetricConfig,
                                   SelfSupConfig, SRConfig, GanConfig, TranslateConfig,
                                   *SECTIONS, *CONFIGS}
    for cls in found.values():
        names = {f.name for f in dataclasses.fields(cls)}
        parts = {f.name for f in dataclasses.fields(cls)
                 if dataclasses.is_dataclass(f.type if isinstance(f.type, type) else None)}
        parts = set(config_sections(cls)) if issubclass(cls, EngineConfig) else parts
        assert names - set(cls.LIMITS) == parts, cls

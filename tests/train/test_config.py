"""Configuration: type-checked overrides, recipes, validation."""

import dataclasses
from dataclasses import dataclass, field

import pytest

from resnets.errors import ResnetsError
from resnets.train.config import (EngineConfig, OptimConfig, TrainConfig, apply_overrides,
                                  field_types, from_dict, parse_overrides, to_dict, validate)
from resnets.train.schedules import ScheduleConfig
from resnets.train.recipes import DEFAULT_RECIPE, RECIPES, get_recipe, recipe_config


def test_overrides_are_parsed_by_field_type():
    cfg = apply_overrides(TrainConfig(), parse_overrides([
        "optim.lr=0.05", "epochs=3", "optim.nesterov=true", "schedule.milestones=10,20",
        "model.name=resnet32", "device=cpu"]))
    assert cfg.optim.lr == 0.05 and isinstance(cfg.optim.lr, float)
    assert cfg.epochs == 3 and cfg.optim.nesterov is True
    assert cfg.schedule.milestones == (10, 20)
    assert cfg.model.name == "resnet32" and cfg.device == "cpu"
    assert TrainConfig().optim.lr == 0.1  # the base is unchanged (frozen, replaced)


@pytest.mark.parametrize("pair, fragment", [
    ("optim.lr=fast", "not a valid number"),
    ("epochs=2.5", "not a valid integer"),
    ("optim.nesterov=maybe", "boolean"),
    ("optim.lrr=0.1", "did you mean 'optim.lr'"),
    ("precision=fp8", "one of fp32, bf16"),
    ("data.dataset=cifar11", "did you mean 'cifar10'"),
])
def test_bad_overrides_give_one_line(pair, fragment):
    with pytest.raises(ResnetsError) as err:
        apply_overrides(TrainConfig(), parse_overrides([pair]))
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_override_needs_equals_sign():
    with pytest.raises(ResnetsError, match="key=value"):
        parse_overrides(["optim.lr"])


@pytest.mark.parametrize("pair, fragment", [
    ("optim.lr=0", "optim.lr must be a finite number in (0, 10], got 0.0"),
    ("optim.lr=-1", "optim.lr must be a finite number in (0, 10], got -1.0"),
    ("optim.lr=1e308", "optim.lr must be a finite number in (0, 10], got 1e+308"),
    ("batch_size=0", "batch_size must be an integer in [1, 65536], got 0"),
    ("optim.momentum=1.5", "momentum"),
])
def test_impossible_settings_are_refused_as_they_are_set(pair, fragment):
    with pytest.raises(ResnetsError) as err:
        apply_overrides(TrainConfig(), parse_overrides([pair]))
    assert str(err.value) == fragment or fragment in str(err.value)


def test_validate_rejects_settings_that_do_not_go_together():
    cfg = apply_overrides(TrainConfig(), {"epochs": "0", "iterations": "0"})
    with pytest.raises(ResnetsError, match="set epochs or iterations"):
        validate(cfg)
    text_model = apply_overrides(TrainConfig(), {"model.name": "vdcnn9"})
    with pytest.raises(ResnetsError, match="digits data needs an image model"):
        validate(text_model)


def test_config_round_trips_through_dict():
    cfg = recipe_config("cifar10-resnet110", {"seed": "3"})
    again = from_dict(to_dict(cfg))
    assert again == cfg


def test_every_field_is_overridable_and_commented():
    keys = field_types()
    assert "optim.lr" in keys and "schedule.warmup_until_error" in keys
    assert len(keys) == sum(len(dataclasses.fields(type(getattr(TrainConfig(), f.name))))
                            if dataclasses.is_dataclass(getattr(TrainConfig(), f.name)) else 1
                            for f in dataclasses.fields(TrainConfig))


def test_recipes_cover_the_papers():
    names = set(RECIPES)
    for d in (20, 32, 44, 56, 110, 1202):
        assert f"cifar10-resnet{d}" in names and f"cifar100-resnet{d}" in names
    for d in (20, 32, 44, 56, 110):
        assert f"cifar10-plain{d}" in names
    for d in (110, 164, 1001):
        assert f"cifar10-preact-resnet{d}" in names
    for d in (18, 34, 50, 101, 152):
        assert f"imagenet-resnet{d}" in names


def test_paper_cifar_recipe_values():
    cfg = recipe_config("cifar10-resnet56")
    assert (cfg.batch_size, cfg.optim.lr, cfg.optim.weight_decay, cfg.iterations) == \
        (128, 0.1, 1e-4, 64000)
    assert cfg.schedule.name == "step" and cfg.schedule.milestones == (32000, 48000)
    assert cfg.model.name == "resnet56" and cfg.data.dataset == "cifar10"
    assert cfg.schedule.warmup_until_error == 0
    deep = recipe_config("cifar10-resnet110")
    assert deep.schedule.warmup_lr == 0.01 and deep.schedule.warmup_until_error == 0.8
    assert recipe_config("cifar100-resnet20").data.dataset == "cifar100"


def test_imagenet_recipe_values():
    cfg = recipe_config("imagenet-resnet50")
    assert (cfg.batch_size, cfg.optim.lr, cfg.epochs, cfg.optim.weight_decay) == \
        (256, 0.1, 90, 1e-4)
    assert cfg.schedule.name == "multistep" and cfg.schedule.milestone_epochs == (30, 60)
    assert cfg.data.dataset == "folder"


def test_recipes_cite_sources_and_build_valid_configs():
    from resnets.train.engine import check_run
    from resnets.train.task import task_for

    for recipe in RECIPES.values():  # every task's registered so far
        assert recipe.source
        cfg = recipe_config(recipe.name)  # each setting checked against its limit
        if recipe.task == "classification":  # the others' data paths are the user's to give
            check_run(task_for(cfg), cfg, resuming=False)


def test_unknown_recipe_names_closest():
    with pytest.raises(ResnetsError, match="cifar10-resnet20"):
        get_recipe("cifar10-resnet21")


def test_default_recipe_is_the_digits_job():
    cfg = recipe_config(DEFAULT_RECIPE)
    assert cfg.data.dataset == "digits" and cfg.model.name == "resnet20"


def test_block_dropout_and_drop_path_reach_the_model():
    import torch

    from resnets.train.setup import build_model

    cfg = recipe_config("cifar10-wrn-16-8", {"model.drop_path_rate": "0.2"})
    model = build_model(cfg, 10, 3, torch.device("cpu"))
    from resnets.models.layers import DropPath

    rates = [m.p for m in model.modules() if isinstance(m, DropPath)]
    assert rates and max(rates) == pytest.approx(0.2)
    own = build_model(recipe_config("cifar10-wrn-16-8"), 10, 3, torch.device("cpu"))
    off = build_model(recipe_config("cifar10-wrn-16-8", {"model.block_dropout": "0"}), 10, 3,
                      torch.device("cpu"))
    p_own = [m.p for m in own.modules() if isinstance(m, torch.nn.Dropout)]
    p_off = [m.p for m in off.modules() if isinstance(m, torch.nn.Dropout)]
    assert p_own and set(p_own) == {0.3} and not p_off  # 0 builds no dropout layer
    with pytest.raises(ResnetsError, match="drop_path_rate"):
        validate(recipe_config("cifar10-resnet20", {"model.drop_path_rate": "1.5"}))


def test_model_stem_reaches_the_model():
    import torch

    from resnets.train.setup import build_model

    cfg = apply_overrides(TrainConfig(), {"model.name": "preact_resnet18",
                                          "model.stem": "cifar"})
    model = build_model(cfg, 10, 3, torch.device("cpu"))
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    default = build_model(apply_overrides(cfg, {"model.stem": ""}), 10, 3, torch.device("cpu"))
    assert default.conv1.kernel_size == (7, 7)
    with pytest.raises(ResnetsError, match="model.stem"):
        apply_overrides(cfg, {"model.stem": "tiny"})


def test_a_device_that_is_not_there_is_refused(monkeypatch):
    import torch

    from resnets.train.setup import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ResnetsError, match=r"device=cuda:7 but only 2 CUDA GPU\(s\)"):
        validate(apply_overrides(TrainConfig(), {"device": "cuda:7"}))
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ResnetsError, match="device=mps but this machine has no MPS"):
        validate(apply_overrides(TrainConfig(), {"device": "mps"}))


@pytest.mark.parametrize("change, fragment", [
    (lambda d: d.update(model=["resnet20"]), "'model' is a list, not a dict of model.*"),
    (lambda d: d["optim"].update(momentun=0.9), "unknown settings optim.momentun"),
    (lambda d: d.clear(), "has no settings"),
    (lambda d: d.update(epochs="30"), "epochs='30' is not a valid integer"),
    (lambda d: d.update(epochs=True), "epochs=True is not a valid integer"),
])
def test_a_config_read_back_is_checked_like_input(change, fragment):
    data = to_dict(TrainConfig())
    change(data)
    with pytest.raises(ResnetsError) as info:
        from_dict(data, "run config 'x/config.json'")
    assert fragment in str(info.value)
    assert str(info.value).startswith("run config 'x/config.json'")


def test_an_empty_choice_is_shown_as_such():
    with pytest.raises(ResnetsError) as info:
        apply_overrides(TrainConfig(), {"model.stem": "imagenets"})
    assert "must be one of '' (empty), imagenet, cifar, got 'imagenets'" in str(info.value)


@dataclass(frozen=True)
class SharedSections(EngineConfig):
    """A task with second sections of shared classes, as gan's d_optim is an OptimConfig."""

    d_optim: OptimConfig = field(default_factory=OptimConfig)
    d_schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


@pytest.mark.parametrize("overrides, message", [
    ({"d_optim.lr": "-1"}, "d_optim.lr must be a finite number in (0, 10], got -1.0"),
    ({"optim.lr": "-1"}, "optim.lr must be a finite number in (0, 10], got -1.0"),
    ({"d_schedule.warmup_iters": "2", "d_schedule.warmup_epochs": "1"},
     "set d_schedule.warmup_iters or d_schedule.warmup_epochs, not both"),
    ({"d_schedule.name": "step", "d_schedule.milestones": ""},
     "d_schedule.milestones is empty; give at least one, e.g. d_schedule.milestones=30,60"),
])
def test_a_wrong_setting_of_a_shared_section_names_that_section(overrides, message):
    with pytest.raises(ResnetsError) as info:
        apply_overrides(SharedSections(), overrides)
    assert str(info.value) == message
    with pytest.raises(ResnetsError, match=r"^schedule\.milestones is empty"):
        ScheduleConfig(name="step", milestones=())  # made directly: its own KEY

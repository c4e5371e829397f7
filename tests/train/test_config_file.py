"""``--config FILE``: JSON and YAML settings files, checked like the command line."""

import dataclasses
import json

import pytest

from resnets.errors import ResnetsError
from resnets.train.config import TrainConfig
from resnets.cli import build_parser, train_command
from resnets.train.command import resolve_config
from resnets.train.config_file import apply_config_file, config_text, read_config_file
from resnets.train.recipes import recipe_config


def resolve_train_config(recipe, config_file, flags, settings):
    """`resnets train` resolving --recipe, --config FILE, shorthand flags, key=value."""
    argv = ["train", *(["--recipe", recipe] if recipe else []),
            *(["--config", config_file] if config_file else [])]
    for flag, value in flags.items():
        argv += [f"--{flag.replace('_', '-')}", value]
    argv += [f"{k}={v}" for k, v in settings.items()]
    return resolve_config(build_parser().parse_with_settings(argv), train_command())


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_partial_yaml_file_keeps_the_other_settings(tmp_path):
    path = write(tmp_path, "c.yaml", "optim:\n  lr: 1e-3\n  nesterov: yes\n"
                 "schedule: {milestones: [10, 20]}\nepochs: 3\n")
    cfg = apply_config_file(TrainConfig(), path)
    assert cfg.optim.lr == 0.001 and isinstance(cfg.optim.lr, float)  # YAML 1.1: a string
    assert cfg.optim.nesterov is True and cfg.schedule.milestones == (10, 20)
    assert cfg.epochs == 3
    assert dataclasses.replace(cfg, optim=TrainConfig().optim, schedule=TrainConfig().schedule,
                               epochs=30) == TrainConfig()


@pytest.mark.parametrize("fmt, name", [("json", "c.json"), ("yaml", "c.yml")])
def test_printed_config_reads_back_to_the_same_config(fmt, name, tmp_path):
    cfg = recipe_config("cifar10-pgd-at", {"optim.lr": 0.05, "seed": 3})  # 8/255 floats
    path = write(tmp_path, name, config_text(cfg, fmt))
    assert apply_config_file(TrainConfig(), path) == cfg
    assert resolve_train_config(None, path, {}, {}) == cfg


def test_an_int_in_the_file_is_a_float_setting_as_written_back(tmp_path):
    path = write(tmp_path, "c.json", '{"optim": {"lr": 1}}')
    cfg = apply_config_file(TrainConfig(), path)
    assert json.loads(config_text(cfg))["optim"]["lr"] == 1.0
    assert isinstance(cfg.optim.lr, float)


def test_precedence_recipe_file_flags_settings(tmp_path):
    path = write(tmp_path, "c.yaml", "epochs: 3\noptim: {lr: 0.01}\nseed: 7\n")
    flags, settings = {"epochs": "4", "seed": "8"}, {"epochs": "5"}
    assert recipe_config("synthetic-smoke").epochs == 2
    assert resolve_train_config("synthetic-smoke", None, {}, {}).epochs == 2
    cfg = resolve_train_config("synthetic-smoke", path, {}, {})
    assert (cfg.epochs, cfg.optim.lr, cfg.seed, cfg.batch_size) == (3, 0.01, 7, 32)
    cfg = resolve_train_config("synthetic-smoke", path, flags, {})
    assert (cfg.epochs, cfg.optim.lr, cfg.seed) == (4, 0.01, 8)
    cfg = resolve_train_config("synthetic-smoke", path, flags, settings)
    assert (cfg.epochs, cfg.optim.lr, cfg.seed) == (5, 0.01, 8)


def test_the_files_recipe_key_picks_the_recipe(tmp_path):
    path = write(tmp_path, "c.json", '{"recipe": "synthetic-smoke", "seed": 4}')
    assert resolve_train_config(None, path, {}, {}) == recipe_config("synthetic-smoke",
                                                                     {"seed": 4})
    with pytest.raises(ResnetsError, match="disagree; drop one"):
        resolve_train_config("digits-resnet20", path, {}, {})


@pytest.mark.parametrize("name, text, fragment", [
    ("c.json", "epochs: 3", "is not valid JSON (line 1"),
    ("c.yaml", "a: [1", "is not valid YAML (line 1, column 6"),
    ("c.yaml", "- 1\n- 2\n", "holds an array, not a mapping"),
    ("c.json", "[1, 2]", "holds an array, not an object"),
    ("c.yaml", "", "holds null"),
    ("c.yaml", "optim: {lrr: 0.1}", "unknown setting 'optim.lrr' (did you mean 'optim.lr'"),
    ("c.json", '{"optimm": {"lr": 0.1}}', "unknown setting 'optimm' (did you mean 'optim'"),
    ("c.yaml", "optim: 0.1", "'optim' is a float, not a dict of optim.* settings"),
    ("c.yaml", "epochs: '3'", "'epochs' is a string ('3'), expected int"),
    ("c.json", '{"optim": {"nesterov": 1}}', "'optim.nesterov' is a number"),
    ("c.json", '{"epochs": 2.5}', "'epochs' is a number (2.5), expected int"),
    ("c.yaml", "optim: {lr: -1}", "optim.lr must be a finite number in (0, 10], got -1"),
    ("c.yaml", "optim: {lr: .nan}", "optim.lr must be a finite number"),
    ("c.yaml", "schedule: {milestones: [a]}", "schedule.milestones"),
    ("c.yaml", "recipe: cifar10-resnet21", "unknown recipe 'cifar10-resnet21'"),
    ("c.yaml", "a: " + "[" * 40 + "]" * 40, "nests more than 32 levels deep"),
    ("c.json", '{"a": ' + "[" * 40 + "]" * 40 + "}", "nests more than 32 levels deep"),
    ("c.yaml", "a: &x [1]\nb: *x\n", "anchor or alias"),
    ("c.yaml", "epochs: !!python/object/apply:os.system [echo hi]", "is not valid YAML"),
    ("c.yaml", b"seed: \xff\n", "is not UTF-8"),
    ("c.txt", "epochs: 3", "name a .json, .yaml or .yml file"),
])
def test_bad_files_are_one_line_naming_the_file(name, text, fragment, tmp_path):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ResnetsError) as err:
        resolve_train_config(None, str(path), {}, {})
    message = str(err.value)
    assert fragment in message and str(path) in message and "\n" not in message


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path):
    path = write(tmp_path, "c.yaml", "#" * (2 << 20))
    with pytest.raises(ResnetsError, match="more than the 1048576"):
        read_config_file(path)


def test_another_commands_dataclass_reads_its_own_keys(tmp_path):
    @dataclasses.dataclass(frozen=True)
    class Inner:
        size: int = 1

    @dataclasses.dataclass(frozen=True)
    class Outer:
        inner: Inner = dataclasses.field(default_factory=Inner)
        name: str = ""

    path = write(tmp_path, "c.yaml", "inner: {size: 4}\nname: x\n")
    assert read_config_file(path, Outer, "--settings") == {"inner.size": 4, "name": "x"}
    with pytest.raises(ResnetsError, match=r"^--settings '.*': unknown setting 'optim';"):
        read_config_file(write(tmp_path, "d.yaml", "optim: {lr: 1}"), Outer, "--settings")


def test_an_inherited_field_keeps_its_help_text():
    from resnets.train.command import field_comments
    from resnets.train.config import EngineConfig, TrainConfig

    # TrainConfig declares no seed of its own: the comment is EngineConfig's.
    assert field_comments(TrainConfig)["seed"] == field_comments(EngineConfig)["seed"]
    assert field_comments(TrainConfig)["seed"].startswith("seeds weights")

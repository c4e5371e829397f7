"""The train command of every task, made from the task's configuration class.

``resnets train``, ``resnets speech|text train``, ``resnets detect|segment train`` and
``resnets continual`` are each a :class:`TrainCommand`: which configuration it builds, which
shorthand flags stand for which ``section.field`` keys, and what the command fixes. The options
are generated from the dataclasses (each flag's type and limit are its field's, its help the
field's comment), so no option restates a default. Every command takes ``key=value``
settings among its flags, ``--config FILE``, ``--print-config [--format yaml]`` and
``--resume RUN_DIR``, and starts its run through :func:`resnets.train.launch.launch`: the same
resume rules and torchrun for all.

What wins, lowest first: the configuration's defaults, the command's ``defaults``, the recipe,
``--config FILE``, the flags, ``key=value``, the command's ``fixed`` settings. A resume starts
from the run's own ``config.json`` and takes the flags and settings the task allows to change.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import re
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from ..errors import ResnetsError
from ..limits import UsageError, field_arg
from .config import apply_overrides, parse_overrides, sections, setting_value


@dataclass(frozen=True)
class TrainCommand:
    """What one training command trains and how its command line is spelled."""

    prog: str  # "resnets detect train": named in messages
    config_class: type  # the task's configuration (an EngineConfig subclass)
    flags: dict[str, str]  # shorthand option (no dashes, "_" for "-") -> the dotted key it sets
    defaults: dict[str, Any] = field(default_factory=dict)  # a new run's, over the class's
    fixed: dict[str, Any] = field(default_factory=dict)  # what the command always trains
    required: dict[str, str] = field(default_factory=dict)  # key -> what to pass, new runs
    renamed: dict[str, str] = field(default_factory=dict)  # old option -> how to say it now
    recipes: bool = False  # --recipe NAME (recipes of this task, `resnets recipes`)
    default_recipe: str = ""  # the recipe of a new run that names none


@functools.cache
def field_comments(cls: type) -> dict[str, str]:
    """The comment after each field of the dataclass ``cls`` (or of the dataclass it
    subclasses, unless ``cls`` declares the field again): its help text."""
    comments: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)]):
        comments.update(re.findall(r"^\s+(\w+): [^=]+= .+?#\s*(.+)$",
                                   inspect.getsource(klass), flags=re.MULTILINE))
    return comments


def add_config_args(parser: argparse.ArgumentParser, cls: type) -> None:
    """One ``--field-name`` option per field of the dataclass ``cls`` (its limit checks the
    value, its comment is the help), so a command and its settings cannot drift apart."""
    for f in fields(cls):
        kind = ({"action": argparse.BooleanOptionalAction} if isinstance(f.default, bool)
                else {"type": field_arg(cls, f.name)})
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=f.default,
                            help=f"{field_comments(cls).get(f.name, '')} (default: "
                            f"{f.default!r})", **kind)


def config_from_args(cls: type, args: argparse.Namespace) -> Any:
    """An instance of the dataclass ``cls`` from the options of :func:`add_config_args`."""
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})


def key_field(cls: type, key: str) -> tuple[type, str]:
    """(the dataclass holding the dotted ``key`` of ``cls``, the field's name)."""
    section, _, name = key.partition(".")
    return (sections(cls)[section], name) if name else (cls, key)


def add_arguments(parser: argparse.ArgumentParser, command: TrainCommand) -> None:
    """The options of ``command``: the shorthand flags, the renamed ones (refused in one line
    naming the new spelling), --resume, --config, --print-config, --format, key=value."""
    from .config_file import add_config_arguments

    if command.recipes:
        parser.add_argument("--recipe", default=None, help="named recipe (`resnets recipes`)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR "
                        "(only how long, where and with how many loader processes may change)")
    add_config_arguments(parser, over="the recipe" if command.recipes else "the defaults")
    for flag, key in command.flags.items():
        owner, name = key_field(command.config_class, key)
        default = next(f.default for f in fields(owner) if f.name == name)
        what = f"{field_comments(owner).get(name, '')} ({key}=...)"
        option = f"--{flag.replace('_', '-')}"
        if isinstance(default, bool):
            parser.add_argument(option, dest=flag, action="store_const", const=True,
                                default=None, help=what)
        else:  # the text is checked as the setting it stands for: errors name the key
            parser.add_argument(option, dest=flag, type=_setting_text(owner.LIMITS[name]),
                                default=None, metavar=name.upper(), help=what)
    for old, now in command.renamed.items():
        parser.add_argument(f"--{old}", action=_Renamed, nargs="?", now=now,
                            help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="any setting, e.g. optim.lr=0.05 (--print-config lists them)")


def _setting_text(limit: Any) -> Callable[[str], str]:
    """An option's ``type=`` that keeps its text, to be checked against ``limit`` as the
    setting it stands for (so the message names the key); ``limit`` for the tests."""

    def text(value: str) -> str:
        return value

    text.limit = limit
    return text


class _Renamed(argparse.Action):
    """An option that moved: one line naming its new spelling, before any work."""

    def __init__(self, *args: Any, now: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.now = now

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        raise UsageError(f"{option_string} is gone: {self.now}")


def resolve_config(args: argparse.Namespace, command: TrainCommand) -> Any:
    """The configuration the command line ``args`` describes, checked before any work."""
    from .config_file import apply_config_pairs, check_print_config_format, read_config_file
    from .setup import load_run_config

    check_print_config_format(args.format, args.print_config)
    given = {key: getattr(args, flag) for flag, key in command.flags.items()
             if getattr(args, flag) is not None}
    given.update(parse_overrides(args.overrides))
    cls = command.config_class
    clash = _against_fixed(command, given)
    if clash:
        key = clash[0]
        raise ResnetsError(f"`{command.prog}` trains {key}={command.fixed[key]}; drop {key}=")
    if args.resume:
        extra = [o for o in ("recipe", "config") if getattr(args, o, None)]
        if extra:
            raise ResnetsError(f"--resume continues a run with its own config.json; drop "
                               f"--{extra[0]}")
        cfg = load_run_config(args.resume, cls)
        if apply_overrides(cfg, command.fixed) != cfg:
            from .task import task_for

            other = task_for(cfg).train_command(cfg)
            raise ResnetsError(f"{args.resume} is a run of `{other}`, not of `{command.prog}`"
                               f"; resume it with `{other} --resume`")
        return _checked(apply_overrides(cfg, given), resuming=True)
    cfg = apply_overrides(cls(), command.defaults)
    pairs = read_config_file(args.config, cls) if args.config else {}
    clash = _against_fixed(command, pairs)
    if clash:
        key = clash[0]
        raise ResnetsError(f"--config {args.config!r} is for {key}={pairs[key]}; "
                           f"`{command.prog}` trains {key}={command.fixed[key]}")
    recipe = _recipe_name(getattr(args, "recipe", None), pairs, args.config)
    recipe = recipe or command.default_recipe
    if recipe:
        from .recipes import recipe_overrides

        try:
            cfg = apply_overrides(cfg, recipe_overrides(recipe, cls))
        except ResnetsError as exc:  # the file named it: say so
            named_by_file = pairs.get("recipe") == recipe and not getattr(args, "recipe", None)
            raise (ResnetsError(f"--config {args.config!r}: {exc}") if named_by_file
                   else exc) from None
    cfg = apply_config_pairs(cfg, pairs, f"--config {args.config!r}")
    cfg = apply_overrides(cfg, {**given, **command.fixed})
    for key, what in command.required.items():
        if not setting_value(cfg, key):
            flag = next((f for f, k in command.flags.items() if k == key), None)
            spelled = f"--{flag.replace('_', '-')} " if flag else f"{key}="
            raise ResnetsError(f"{spelled.strip()} is required: {what} (or --resume RUN_DIR "
                               "to continue a run)")
    return _checked(cfg, resuming=False)


def _against_fixed(command: TrainCommand, settings: dict[str, Any]) -> list[str]:
    """The keys of ``settings`` that set another value than the command fixes."""
    fixed = apply_overrides(command.config_class(), command.fixed)
    return [key for key in command.fixed
            if key in settings and apply_overrides(fixed, {key: settings[key]}) != fixed]


def _recipe_name(flag: str | None, pairs: dict[str, Any], config_file: str | None) -> str:
    named = pairs.get("recipe") or ""
    if flag and named and flag != named:
        raise ResnetsError(f"--recipe {flag} and --config {config_file!r} (recipe {named}) "
                           "disagree; drop one")
    return flag or named


def _checked(cfg: Any, resuming: bool) -> Any:
    """``cfg`` once the engine and its task accept it (the device exists, the model is
    known): before a process group, a run directory or any data."""
    from .engine import check_run
    from .task import task_for

    check_run(task_for(cfg), cfg, resuming)
    return cfg


def run(args: argparse.Namespace, command: TrainCommand,
        report: Callable[[dict], None]) -> int:
    """``--print-config``: print the resolved configuration; else train (or resume) it."""
    from .config_file import config_text
    from .launch import launch

    if args.print_config:  # the resolved settings, nothing read or written
        print(config_text(resolve_config(args, command), args.format or "json"), end="")
        return 0
    return launch(lambda: resolve_config(args, command), args.resume, report)

"""``--config FILE``: a training configuration read from a JSON or YAML file.

The file has the nested keys of a run's ``config.json`` (``to_dict`` of the configuration);
any subset will do, the keys it leaves out keep their values from below. The file is user
input: it is read with the size, UTF-8, top-level-mapping and depth limits of
:mod:`resnets.readback`, YAML with ``safe_load`` only, and an unknown key, a value of the
wrong type or one outside its limit is one line naming the file and the key.

What wins, lowest first: the defaults, ``--recipe``, ``--config FILE``, the shorthand flags
(``--epochs``), ``key=value`` settings (:func:`resnets.train.command.resolve_config`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import ResnetsError, did_you_mean
from ..readback import (MAX_JSON_DEPTH, check_keys, field_kinds, json_type,
                        read_json, read_text, refusal)
from .config import TrainConfig, apply_overrides, dotted_pairs, to_dict, without_task
from .config import sections as config_sections

MAX_CONFIG_BYTES = 1 << 20  # a config.json is about 2 kB
FORMATS = {".json": "JSON", ".yaml": "YAML", ".yml": "YAML"}
FIX = "write it as --print-config prints one"

# PyYAML follows YAML 1.1, where 1e-4 (no dot) is a string; a config means the number.
_EXPONENT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


class _ConfigLoader(yaml.SafeLoader):
    """``yaml.safe_load``'s loader, reading 1e-4 as a number."""


_ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT, list("-+0123456789."))
# Tokens that open and close a YAML collection, for the depth count.
_OPEN = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
         yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
_CLOSE = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def read_config_file(path: str | os.PathLike, cls: type = TrainConfig,
                     option: str = "--config") -> dict[str, Any]:
    """The settings of the JSON or YAML file ``path`` as dotted keys of the dataclass
    ``cls`` (``{"optim.lr": 0.05}``), each of its field's JSON type; limits are checked
    when they are applied (:func:`apply_config_file`)."""
    return _dotted_settings(read_settings_file(path, option), cls, f"{option} {str(path)!r}")


def read_settings_file(path: str | os.PathLike, option: str = "--config") -> dict[str, Any]:
    """The mapping in the JSON or YAML file ``path``, read with the limits of user input;
    its keys are not checked here."""
    kind = FORMATS.get(Path(path).suffix.lower())
    if kind is None:
        raise ResnetsError(f"{option} {str(path)!r}: name a .json, .yaml or .yml file")
    what = f"{option} {kind} file"
    if kind == "JSON":
        return read_json(path, what, FIX, max_bytes=MAX_CONFIG_BYTES)
    refuse = refusal(path, what, FIX)
    return _parse_yaml(read_text(path, refuse, MAX_CONFIG_BYTES), refuse)


def _parse_yaml(text: str, refuse, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """The mapping in YAML ``text``: its depth counted from the tokens before the (recursive)
    parser runs; anchors refused, as a config needs none and aliases can multiply it."""
    depth = 0
    try:
        for token in yaml.scan(text, Loader=_ConfigLoader):
            if isinstance(token, (yaml.AnchorToken, yaml.AliasToken)):
                raise refuse("uses a YAML anchor or alias (&name, *name)")
            depth += isinstance(token, _OPEN) - isinstance(token, _CLOSE)
            if depth > max_depth:
                raise refuse(f"nests more than {max_depth} levels deep")
        data = yaml.load(text, Loader=_ConfigLoader)  # a SafeLoader: no objects, no code
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise refuse(f"is not valid YAML ({where}{problem})") from None
    if not isinstance(data, dict):
        raise refuse(f"holds {json_type(data)}, not a mapping of settings")
    return data


def _dotted_settings(data: dict[str, Any], cls: type, where: str) -> dict[str, Any]:
    data = without_task(data, cls, where)
    sections = config_sections(cls)
    kinds = {k: v for k, v in field_kinds(cls).items() if k not in sections}
    for name, section in sections.items():
        kinds.update({f"{name}.{k}": v for k, v in field_kinds(section).items()})
    pairs = dotted_pairs(data, sections, where)
    for key in pairs:
        if key not in kinds:
            known = [*sections, *kinds]
            raise ResnetsError(f"{where}: unknown setting {key!r}{did_you_mean(key, known)}; "
                               "--print-config shows every key")
    check_keys(pairs, kinds, where, optional=kinds)
    return pairs


def apply_config_file(cfg: TrainConfig, path: str | os.PathLike,
                      option: str = "--config") -> TrainConfig:
    """``cfg`` with the settings of the file ``path``; a bad one is one line naming both."""
    return apply_config_pairs(cfg, read_config_file(path, TrainConfig, option),
                              f"{option} {str(path)!r}")


def apply_config_pairs(cfg: Any, pairs: dict[str, Any], where: str) -> Any:
    """``cfg`` with the settings ``pairs`` read from ``where``, which a refusal names."""
    try:
        return apply_overrides(cfg, pairs)
    except ResnetsError as exc:
        raise ResnetsError(f"{where}: {exc}") from None


def add_config_arguments(parser: argparse.ArgumentParser, over: str = "the defaults") -> None:
    """``--config FILE``, ``--print-config`` and ``--format`` of a training command."""
    parser.add_argument("--config", metavar="FILE", help="settings from a JSON or YAML file "
                        f"with the keys of a run's config.json (over {over}, under flags)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved configuration and exit (feed it to --config)")
    parser.add_argument("--format", choices=("json", "yaml"), default=None,
                        help="--print-config's format (default: json)")


def options_given(parser: argparse.ArgumentParser, argv: list[str]) -> dict[str, Any]:
    """The options written in ``argv`` (not their defaults) by ``dest``: what wins over a
    ``--config`` file. ``parser`` has no subcommands."""
    unset = object()  # argparse fills in a default only where the namespace lacks the name
    blank = argparse.Namespace(**{a.dest: unset for a in parser._actions if a.option_strings})
    return {k: v for k, v in vars(parser.parse_args(argv, blank)).items() if v is not unset}


def check_limits(values: dict[str, Any], limits: dict[str, Any], where: str,
                 section: str = "") -> None:
    """One line naming ``where`` and the key for the first value outside its limit (a key
    whose limit is None is checked where it is used)."""
    for key, value in values.items():
        limit = limits.get(key)
        if limit is not None and limit.problem(value):
            raise ResnetsError(f"{where}: {limit.message(section + key, value)}")


def check_print_config_format(fmt: str | None, print_config: bool) -> None:
    """``--format`` says how ``--print-config`` prints; alone it would do nothing."""
    if fmt and not print_config:
        raise ResnetsError("--format is the format of --print-config; add --print-config "
                           "or drop --format")


def config_text(cfg: Any, fmt: str = "json") -> str:
    """``cfg`` as ``--print-config`` prints it: the layout of ``config.json``, in JSON or
    YAML; either read back by ``--config`` gives the same configuration. A dict (the
    settings of ``resnets detect train``) is printed as it is."""
    data = cfg if isinstance(cfg, dict) else to_dict(cfg)
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False)
    return json.dumps(data, indent=2) + "\n"

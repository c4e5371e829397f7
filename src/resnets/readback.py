"""Reading back the JSON files the project wrote, checked like user input.

A run's ``config.json``, ``summary.json``, resume records and the run configs of the
detection and segmentation commands are written by us, but they sit on a disk where they
can be truncated, edited by hand, replaced or filled with junk. :func:`read_json` reads one
with a size limit, as UTF-8, as JSON, with a dict at the top and a nesting depth limit
checked before the parser recurses, so that any of those faults is one line naming the file
and the fix (a :class:`ReadBackError`), never a traceback or a ``RecursionError``.
:func:`check_keys` then names unknown or missing keys and values of the wrong type.

A run written before a setting existed lacks it: :func:`fill_defaults` gives it the default,
with one notice line per file (:func:`note_defaults`); an unknown setting stays an error.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import ResnetsError

MAX_JSON_BYTES = 16 << 20  # our configs and summaries are a few kilobytes
MAX_JSON_LINES_BYTES = 256 << 20  # metrics.jsonl grows by a row per log (~300 bytes)
MAX_JSON_DEPTH = 32  # a config is two levels deep; Python's parser recurses once per level

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class ReadBackError(ResnetsError):
    """A file the project wrote cannot be read back as written."""


_NOTED: set[tuple[str, tuple[str, ...]]] = set()  # (file, settings) already announced


def note_defaults(where: str, filled: Mapping[str, Any]) -> None:
    """Say once per process (rank 0 of several) that ``where`` lacked the settings
    ``filled`` (key -> the default it now takes): it was written by an older version."""
    key = (where, tuple(filled))
    if not filled or key in _NOTED or os.environ.get("RANK", "0") != "0":
        return
    _NOTED.add(key)
    values = ", ".join(f"{k}={v!r}" for k, v in filled.items())
    print(f"resnets: note: {where} was written before settings {', '.join(filled)} existed: "
          f"using their defaults ({values})", file=sys.stderr, flush=True)


def fill_defaults(data: Any, cls: type, where: str) -> Any:
    """``data`` (the JSON object of the dataclass ``cls``) with each field it lacks set to
    the field's default, as JSON writes it, noted once (:func:`note_defaults`). ``data``
    that is no object, lacks a field without a default or has a key ``cls`` has not is
    returned as it is, for :func:`check_keys` to name the fault."""
    fields = dataclasses.fields(cls)
    if not isinstance(data, Mapping) or any(k not in {f.name for f in fields} for k in data):
        return data
    filled = {}
    for f in (f for f in fields if f.name not in data):
        if f.default is not dataclasses.MISSING:
            filled[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            filled[f.name] = f.default_factory()
        else:  # no default to take: check_keys names it, alone
            return data
    filled = json.loads(json.dumps(filled))  # a tuple default is written as a list
    note_defaults(where, filled)
    return {**data, **filled}


def read_json(path: str | os.PathLike, what: str = "file", fix: str = "",
              max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH
              ) -> dict[str, Any]:
    """The JSON object in ``path``; any fault is one :class:`ReadBackError` line.

    ``what`` names the file in messages ("run config"), ``fix`` says what to do about a bad
    one (default: restore it from a copy or delete it).
    """
    refuse = refusal(path, what, fix)
    return _parse_object(read_text(path, refuse, max_bytes), refuse, max_depth)


def read_json_lines(path: str | os.PathLike, what: str = "file", fix: str = "",
                    max_bytes: int = MAX_JSON_LINES_BYTES, max_depth: int = MAX_JSON_DEPTH
                    ) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file (metrics.jsonl), each checked as by
    :func:`read_json`; blank lines are skipped."""
    refuse = refusal(path, what, fix)
    rows = []
    for number, line in enumerate(read_text(path, refuse, max_bytes).splitlines(), 1):
        if line.strip():
            rows.append(_parse_object(line, lambda problem: refuse(f"line {number} {problem}"),
                                      max_depth))
    return rows


def refusal(path: str | os.PathLike, what: str, fix: str) -> Callable[[str], ReadBackError]:
    """A maker of the one-line error about ``path``: ``refuse(problem)`` names the file,
    the problem and ``fix`` (default: restore it from a copy or delete it)."""
    def refuse(problem: str) -> ReadBackError:
        return ReadBackError(f"{what} {str(path)!r} {problem}; "
                             f"{fix or 'restore it from a copy or delete it'}")
    return refuse


def read_text(path: str | os.PathLike, refuse: Callable[[str], ReadBackError],
               max_bytes: int) -> str:
    """The text of ``path``, read with a size limit as UTF-8; a fault is ``refuse(...)``."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise refuse(f"is {size} bytes, more than the {max_bytes} such a file can have")
        raw = path.read_bytes()
    except OSError as exc:
        raise refuse(f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"is not UTF-8 text (byte {exc.start})") from None


def _parse_object(text: str, refuse: Callable[[str], ReadBackError],
                  max_depth: int) -> dict[str, Any]:
    if json_depth(text, max_depth) > max_depth:
        raise refuse(f"nests more than {max_depth} levels deep")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise refuse(f"is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                     f"{exc.msg})") from None
    except RecursionError:  # only reachable with a max_depth above the parser's limit
        raise refuse("nests too deeply to be parsed") from None
    if not isinstance(data, dict):
        raise refuse(f"holds {json_type(data)}, not an object")
    return data


def json_depth(text: str, stop_above: int) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (strings ignored), counted
    without recursion; counting stops once it passes ``stop_above``."""
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_STRING.sub('""', text)):
        if bracket.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > stop_above:
                break
        else:
            depth -= 1
    return deepest


def json_type(value: Any) -> str:
    """``value``'s JSON type with its article: "an array", "a string", "null"."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), f"a {type(value).__name__}")


def check_keys(data: Mapping[str, Any], expected: Mapping[str, type | tuple[type, ...]],
               where: str, optional: Iterable[str] = ()) -> None:
    """Refuse in one line a key of ``data`` not in ``expected``, a missing one (unless
    ``optional``) or a value whose type is not the expected one (a bool is no number)."""
    if not isinstance(data, Mapping):
        raise ReadBackError(f"{where} is {json_type(data)}, not an object of settings")
    unknown = [k for k in data if k not in expected]
    if unknown:
        raise ReadBackError(f"{where} has unknown keys {', '.join(map(repr, unknown))}; "
                            "it was not written by this version of resnets")
    missing = [k for k in expected if k not in data and k not in set(optional)]
    if missing:
        raise ReadBackError(f"{where} lacks {', '.join(map(repr, missing))}; it was not "
                            "written by this version of resnets, or was cut short")
    for key, value in data.items():
        kinds = expected[key] if isinstance(expected[key], tuple) else (expected[key],)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise ReadBackError(f"{where}: {key!r} is {json_type(value)} ({value!r:.40}), "
                                f"expected {names}")


def field_kinds(cls: type) -> dict[str, type | tuple[type, ...]]:
    """The JSON type of each field of the dataclass ``cls``, from its annotation: a tuple
    is written as a list, a float field may hold an int, ``X | None`` either."""
    hints = typing.get_type_hints(cls)
    kinds: dict[str, type | tuple[type, ...]] = {}
    for f in dataclasses.fields(cls):
        options = typing.get_args(hints[f.name]) if isinstance(
            hints[f.name], types.UnionType) else (hints[f.name],)
        found: list[type] = []
        for hint in options:
            origin = typing.get_origin(hint) or hint
            found += [list] if origin in (tuple, list) else [int, float] if origin is float \
                else [origin]
        kinds[f.name] = found[0] if len(found) == 1 else tuple(found)
    return kinds

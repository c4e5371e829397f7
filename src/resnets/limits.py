"""What each setting may be: its type, its range, its choices, stated once per field.

A configuration dataclass names the limit of every field in a ``LIMITS`` class variable beside
the fields and calls :func:`check_fields` from ``__post_init__``, so a bad value fails where
the configuration is made, before any data is read, with one line that names the setting, the
value and what is valid::

    optim.lr must be a finite number in (0, 10], got 1e+308

The command-line options that fill a configuration parse with :func:`arg` of the same limit
(argparse then reports ``argument --lr: must be ...`` and exits with status 2); options of
their own use it too. :class:`Parser` is the ``ArgumentParser`` of every command: its errors
are one line.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import math
import re
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Iterator, NoReturn

from .errors import ResnetsError, did_you_mean

# Seeds are combined into others (seed * 1_000_003 + epoch) that must fit in 64 bits.
SEED_MAX = 2**32 - 1
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
BATCH_MAX = 65536  # images per step: more never fits in memory
SIDE_MAX = 8192  # image sides, pixels: a larger square image is gigabytes per batch
COUNT_MAX = 10**9  # steps, iterations and other counters


@dataclass(frozen=True)
class Limit:
    """The values one setting may take."""

    kind: type  # bool, int, float or str (of each item, when ``many``)
    low: float | None = None  # smallest number allowed (None: no bound)
    high: float | None = None  # largest number allowed (None: no bound)
    open_low: bool = False  # low itself is excluded
    open_high: bool = False  # high itself is excluded
    also: tuple[Any, ...] = ()  # values allowed outside the range, e.g. -1 = the model's own
    choices: tuple[Any, ...] = ()  # the only values allowed (empty: any in range)
    many: bool = False  # a tuple of such values
    device: bool = False  # a device name: auto | cpu | cuda | cuda:N | mps

    def describe(self) -> str:
        """What is valid, as the end of "KEY must be ..."."""
        if self.many:
            joint = "" if self.choices else "of "
            return f"a comma-separated list {joint}{self._one(plural=True)}"
        return self._one()

    def _one(self, plural: bool = False) -> str:
        if self.device:
            return "a device: auto, cpu, cuda, cuda:N or mps"
        if self.choices:
            names = ", ".join("'' (empty)" if c == "" else str(c) for c in self.choices)
            return f"from {names}" if plural else f"one of {names}"
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "text"
        noun = {int: "integer", float: "finite number"}[self.kind]
        noun = f"{noun}s" if plural else f"{'an' if self.kind is int else 'a'} {noun}"
        if self.low is None and self.high is None:
            return noun
        low = "(" if self.open_low else "["
        high = ")" if self.open_high else "]"
        text = f"{noun} in {low}{_num(self.low, '-inf')}, {_num(self.high, 'inf')}{high}"
        if self.also:
            text += " or " + " or ".join(_num(v) for v in self.also)
        return text

    def problem(self, value: Any) -> bool:
        """True when ``value`` is not allowed."""
        if self.many:
            return not isinstance(value, tuple) or any(self._bad(v) for v in value)
        return self._bad(value)

    def _bad(self, value: Any) -> bool:
        if self.kind is bool or isinstance(value, bool):
            return not (self.kind is bool and isinstance(value, bool))
        if self.kind is str:
            if not isinstance(value, str):
                return True
            if self.device:
                return DEVICE_PATTERN.fullmatch(value) is None
            return bool(self.choices) and value not in self.choices
        allowed = (int,) if self.kind is int else (int, float)
        if not isinstance(value, allowed):
            return True
        if self.choices:
            return value not in self.choices
        if value in self.also:
            return False
        if not math.isfinite(value):
            return True
        below = self.low is not None and (value <= self.low if self.open_low else
                                          value < self.low)
        above = self.high is not None and (value >= self.high if self.open_high else
                                           value > self.high)
        return below or above

    def message(self, key: str, value: Any) -> str:
        return f"{key} {self.rule(value)}"

    def rule(self, value: Any) -> str:
        """``must be ..., got VALUE``, with a did-you-mean for a misspelt choice."""
        hint = (did_you_mean(value, self.choices) if self.kind is str and isinstance(value, str)
                else "")
        return f"must be {self.describe()}, got {value!r}{hint}"


def _num(value: float | None, unbounded: str = "") -> str:
    if value is None:
        return unbounded
    return str(value) if isinstance(value, int) else f"{value:g}"


def integer(low: int, high: int = COUNT_MAX, also: tuple = ()) -> Limit:
    return Limit(int, low, high, also=also)


def number(low: float | None, high: float | None, open_low: bool = False,
           open_high: bool = False, also: tuple = ()) -> Limit:
    return Limit(float, low, high, open_low, open_high, also)


def choice(*values: str | int) -> Limit:
    """One of ``values``: names, or integers such as an output stride."""
    kind = int if values and all(isinstance(v, int) for v in values) else str
    return Limit(kind, choices=values)


def integers(low: int, high: int = COUNT_MAX) -> Limit:
    return Limit(int, low, high, many=True)


FLAG = Limit(bool)
TEXT = Limit(str)  # any text: a path, a name, a list checked where it is read
DEVICE = Limit(str, device=True)
SEED = integer(0, SEED_MAX)
FRACTION = number(0, 1, open_high=True)  # a probability or share in [0, 1)


# Section class -> the KEY it is set under just now: a class shared by two sections (gan's
# d_optim is an OptimConfig, KEY "optim.{name}") names the one being set (see keyed_as).
_SECTION_KEYS: contextvars.ContextVar[dict[type, str]] = contextvars.ContextVar(
    "section_keys", default={})


@contextlib.contextmanager
def keyed_as(cls: type, key: str) -> Iterator[None]:
    """Within the block, a ``cls`` being made names its fields with ``key``
    (``"d_optim.{name}"``) in every message: its limits and its own cross-field checks."""
    token = _SECTION_KEYS.set({**_SECTION_KEYS.get(), cls: key})
    try:
        yield
    finally:
        _SECTION_KEYS.reset(token)


def setting_key(cls: type, name: str) -> str:
    """How the user writes the field ``name`` of ``cls``: ``KEY`` of the class (or the one
    :func:`keyed_as` gives it) formatted with the name (``optim.{name}``) or the option
    (``--{flag}``)."""
    key = _SECTION_KEYS.get().get(cls) or getattr(cls, "KEY", "{name}")
    return key.format(name=name, flag=name.replace("_", "-"))


def check_fields(cfg: Any) -> None:
    """Raise a one-line :class:`ResnetsError` for the first field of the dataclass ``cfg``
    outside its limit; fields that are configurations check themselves."""
    cls = type(cfg)
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if is_dataclass(value):
            continue
        limit = cls.LIMITS[f.name]  # a KeyError here: a new field was given no limit
        if limit.problem(value):
            raise ResnetsError(limit.message(setting_key(cls, f.name), value))


def parse_number(text: str) -> float:
    """A float, or a fraction as attacks write them: ``"8/255"``."""
    num, sep, den = text.partition("/")
    if sep:
        return float(num) / float(den)
    return float(text)


def parse_text(text: str, limit: Limit) -> Any:
    """``text`` as a value of ``limit``'s kind (a ValueError when it is not one)."""
    if limit.kind is int:
        return int(text)
    if limit.kind is float:
        try:
            return parse_number(text)
        except ZeroDivisionError:
            raise ValueError(text) from None
    return text


def arg(limit: Limit):
    """An argparse ``type=``: the option's text parsed and checked against ``limit``."""

    def parse(text: str) -> Any:
        try:
            value = parse_text(text, limit)
        except ValueError:
            value = text
        if limit.problem(value):
            raise argparse.ArgumentTypeError(limit.rule(text))
        return value

    parse.limit = limit  # for the tests that walk every option
    parse.__name__ = limit.kind.__name__
    return parse


def field_arg(cls: type, name: str):
    """The argparse ``type=`` of the field ``name`` of the configuration ``cls``."""
    return arg(cls.LIMITS[name])


class UsageError(ResnetsError):
    """The command line does not parse: a missing argument, an option's bad value."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are :class:`UsageError`: the CLI prints them as every
    other user error, one line and exit status 2, not argparse's usage block.

    Subcommand parsers are made of the same class (argparse uses the parent's class)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")

    def parse_with_settings(self, argv: list[str]) -> argparse.Namespace:
        """Parse ``argv``; the ``key=value`` settings of a ``train`` subcommand may stand
        anywhere among its flags (they join its ``overrides``)."""
        args, extra = self.parse_known_args(list(argv))
        if isinstance(getattr(args, "overrides", None), list):  # a train command
            settings = [a for a in extra if "=" in a and not a.startswith("-")]
            args.overrides = [*args.overrides, *settings]
            extra = [a for a in extra if a not in settings]
        if extra:
            self.error(f"unrecognized arguments: {' '.join(extra)}")
        return args

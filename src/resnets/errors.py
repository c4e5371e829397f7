"""User-facing errors: one line that names the problem and the fix.

The CLI catches :class:`ResnetsError` and prints its message without a traceback, so any
mistake a user can make (an unknown model, an impossible depth, a missing dataset) should be
raised as one of these, before any expensive work starts.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


class ResnetsError(ValueError):
    """An error caused by user input; its message is a complete, single-line explanation."""


class DataError(ResnetsError):
    """A dataset is missing, malformed or does not match the configuration."""


class CheckpointError(ResnetsError):
    """A checkpoint or weights file cannot be used."""


def closest(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` choices most similar to ``word`` (for "did you mean" hints)."""
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=0.5)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint such as ``" (did you mean 'resnet18'?)"``, or an empty string."""
    near = closest(word, choices)
    if not near:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in near) + "?)"


def one_line(message: str) -> str:
    """The user's line of an error message.

    An error raised in a DataLoader worker comes back with the worker's traceback in its
    message; its last line is ``module.ErrorClass: the message``.
    """
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return message.strip()
    last = lines[-1]
    head, sep, tail = last.partition(": ")
    return tail if sep and head.endswith("Error") else last


def first_line(error: BaseException | str, default: str | None = None) -> str:
    """The first non-blank line of an error's message, terminal colour codes removed.

    For a library's long message (torch.load's, a C++ runtime error) whose first line says
    what failed. With no text, ``default``, or the exception's class name.
    """
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if line:
        return line
    if default is not None:
        return default
    return type(error).__name__ if isinstance(error, BaseException) else ""

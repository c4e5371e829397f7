"""The lines that user-facing errors take from other libraries' messages."""

import pytest

from resnets.errors import first_line


@pytest.mark.parametrize("error, default, expected", [
    (RuntimeError("\n  \x1b[1mfirst\x1b[0m  \nsecond"), None, "first"),
    (OSError(), None, "OSError"),
    (ValueError("  \n "), "unreadable", "unreadable"),
    ("text, not an exception\nmore", None, "text, not an exception"),
    ("", None, ""),
], ids=["colours-and-blank-lines", "empty-gives-the-class", "default", "text", "empty-text"])
def test_first_line_is_the_first_line_with_text(error, default, expected):
    assert first_line(error, default) == expected

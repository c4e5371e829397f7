"""Reading back the JSON files the project wrote: every fault is one line naming the file."""

import json
from dataclasses import dataclass, field

import pytest

from resnets.readback import ReadBackError, check_keys, field_kinds, fill_defaults, read_json


@pytest.mark.parametrize("raw, fragment", [
    (b"{not json", "is not valid JSON (line 1, column 2"),
    (b"\xff\xfe{}", "is not UTF-8 text"),
    (b"[1, 2]", "holds an array, not an object"),
    (b"null", "holds null"),
    (b"[" * 100000 + b"]" * 100000, "nests more than 32 levels deep"),
    (b'{"a": ' * 40 + b"1" + b"}" * 40, "nests more than 32 levels deep"),
])
def test_a_damaged_file_is_one_line_naming_it(tmp_path, raw, fragment):
    path = tmp_path / "config.json"
    path.write_bytes(raw)
    with pytest.raises(ReadBackError) as info:
        read_json(path, "run config", "start a new run")
    message = str(info.value)
    assert fragment in message and str(path) in message and message.endswith("start a new run")
    assert "\n" not in message


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    data = {"name": "[[[[{{{{" * 20 + '\\"]]', "nested": {"a": [1, {"b": 2}]}}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert read_json(path) == data


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"x": "y" * 2000}), encoding="utf-8")
    with pytest.raises(ReadBackError, match="more than the 1000 such a file can have"):
        read_json(path, max_bytes=1000)


def test_check_keys_names_unknown_missing_and_mistyped_keys():
    expected = {"task": str, "steps": int, "lr": (int, float)}
    check_keys({"task": "detection", "steps": 3, "lr": 1}, expected, "x")
    with pytest.raises(ReadBackError, match="unknown keys 'extra'"):
        check_keys({"task": "d", "steps": 3, "lr": 1.0, "extra": 1}, expected, "x")
    with pytest.raises(ReadBackError, match="lacks 'steps'"):
        check_keys({"task": "d", "lr": 1.0}, expected, "x")
    check_keys({"task": "d", "lr": 1.0}, expected, "x", optional=["steps"])
    with pytest.raises(ReadBackError, match=r"'steps' is a boolean \(True\), expected int"):
        check_keys({"task": "d", "steps": True, "lr": 1.0}, expected, "x")


@dataclass(frozen=True)
class Section:
    arch: str
    sizes: tuple[int, ...] = (1, 2)
    flip: bool = False
    extra: dict = field(default_factory=dict)


def test_settings_of_a_newer_version_take_their_defaults_noted_once(capsys):
    where = "checkpoint 'x': 'section'"
    old = {"arch": "a", "flip": True}
    for _ in range(2):
        filled = fill_defaults(old, Section, where)
        assert filled == {"arch": "a", "flip": True, "sizes": [1, 2], "extra": {}}
        check_keys(filled, field_kinds(Section), where)  # as JSON would have written them
    assert capsys.readouterr().err.splitlines() == [
        "resnets: note: checkpoint 'x': 'section' was written before settings sizes, extra "
        "existed: using their defaults (sizes=[1, 2], extra={})"]
    with pytest.raises(ReadBackError, match="lacks 'arch'"):  # no default to take: no note
        check_keys(fill_defaults({}, Section, where), field_kinds(Section), where)
    unknown = {"arch": "a", "sise": 3}
    assert fill_defaults(unknown, Section, where) == unknown  # check_keys names it
    assert capsys.readouterr().err == ""

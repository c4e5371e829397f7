"""Reading back the JSON files the project wrote: every fault is one line naming the file."""

import json

import pytest

from resnets.readback import ReadBackError, check_keys, read_json


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

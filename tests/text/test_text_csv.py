"""AG News / Yelp CSV reading: labels, empty rows, bad encodings and labels by file and line."""

from __future__ import annotations

import pytest

from resnets.errors import DataError
from resnets.text.csvdata import read_csv_dataset, read_rows


def write(path, text: str | bytes) -> None:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))


def test_ag_news_rows_with_declared_classes(tmp_path):
    write(tmp_path / "classes.txt", "World\nSports\n")
    write(tmp_path / "train.csv", '\ufeff"1","Title one","Body, with comma"\n'
          '"2","Two","Multi\nline body"\n\n"2","","   "\n"1","Only title",""\n')
    write(tmp_path / "test.csv", '"2","t","b"\n')
    train, test, classes = read_csv_dataset(str(tmp_path))
    assert classes == ["World", "Sports"]
    assert train.texts == ["Title one Body, with comma", "Two Multi\nline body", "Only title"]
    assert train.labels == [0, 1, 0] and test.labels == [1]
    # The blank line 4 and the empty row on line 5 are left out and reported.
    assert train.problems == [f"{tmp_path / 'train.csv'}:4: empty row",
                              f"{tmp_path / 'train.csv'}:5: empty row"]


def test_yelp_two_columns_with_labels_from_the_training_file(tmp_path):
    write(tmp_path / "train.csv", '"2","good"\n"10","fine"\n"1","bad"\n')
    write(tmp_path / "test.csv", '"1","meh"\n')
    train, test, classes = read_csv_dataset(str(tmp_path))
    assert classes == ["1", "2", "10"]
    assert train.labels == [1, 2, 0] and test.labels == [0]


def test_bad_rows_name_file_and_line_or_are_counted(tmp_path):
    path = tmp_path / "rows.csv"
    write(path, b'"1","fine"\n"2","caf\xe9 latin-1"\n"3","too far"\n"1"\n')
    labels = {"1": 0, "2": 1}
    with pytest.raises(DataError, match=r"rows.csv:2: not UTF-8"):
        read_rows(path, labels)
    write(path, '"1","fine"\n"3","too far"\n')
    with pytest.raises(DataError, match=r"rows.csv:2: label '3' is not one of the declared "
                                        r"labels 1, 2 \(or pass --skip-bad"):
        read_rows(path, labels)
    write(path, b'"1","fine"\n"2","caf\xe9"\n"3","far"\n"1","x"\n')
    rows = read_rows(path, labels, skip_bad=True)
    assert rows.texts == ["fine", "x"]
    assert [p.split(": ", 1)[0] for p in rows.problems] == [f"{path}:2", f"{path}:3"]
    with pytest.raises(DataError, match="holds no usable row"):
        write(path, '"1",""\n')
        read_rows(path, labels)


def test_missing_files_and_too_few_labels(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_csv_dataset(str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="train.csv does not exist"):
        read_csv_dataset(str(tmp_path))
    write(tmp_path / "train.csv", '"1","a"\n"1","b"\n')
    with pytest.raises(DataError, match="1 distinct labels"):
        read_csv_dataset(str(tmp_path))

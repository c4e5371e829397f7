"""Text classification data in the AG News / Yelp CSV format (Zhang et al. 2015).

::

    ROOT/train.csv     "label","title","text" per row (or "label","text"), UTF-8, no header
    ROOT/test.csv
    ROOT/classes.txt   optional: one class name per line; label k (1-based) is line k

With ``classes.txt`` the declared labels are 1..K; without it, the distinct labels of
``train.csv`` are the classes. The title and text fields are joined with a space. Rows whose
text is empty (and blank lines) are left out and reported; a row that is not UTF-8, has no
text column or carries a label outside the declared set stops the reading with its file and
line, unless ``skip_bad`` leaves it out and counts it instead.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError

CLASSES_FILE = "classes.txt"
_BAD_BYTES = re.compile("[\udc80-\udcff]")  # how surrogateescape marks undecodable bytes


@dataclass
class TextRows:
    texts: list[str]
    labels: list[int]  # class indices, 0-based
    problems: list[str] = field(default_factory=list)  # "file:line: what" of rows left out


def declared_classes(root: Path) -> list[str] | None:
    path = root / CLASSES_FILE
    if not path.is_file():
        return None
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    names = [n for n in names if n]
    if len(names) < 2:
        raise DataError(f"{path}: declares {len(names)} classes; a classifier needs two")
    return names


def _records(path: Path):
    """(first line number, fields) of every CSV record; blank lines give no fields."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror})") from None
    text = blob.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    try:
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path}:{start}: malformed CSV ({exc})") from None


def read_rows(path: Path, labels: dict[str, int], skip_bad: bool = False) -> TextRows:
    """The rows of one CSV file; ``labels`` maps each label as written to its class index."""
    if not path.is_file():
        raise DataError(f"{path} does not exist; text data needs train.csv and test.csv "
                        "(label, title, text per row)")
    out = TextRows([], [])
    for line, row in _records(path):
        where = f"{path}:{line}"
        if not row or not "".join(row[1:]).strip():
            out.problems.append(f"{where}: empty row")
            continue
        problem = None
        if any(_BAD_BYTES.search(f) for f in row):
            problem = "not UTF-8; save the file as UTF-8"
        elif len(row) < 2:
            problem = "one column only; rows are label, title, text"
        elif row[0].strip() not in labels:
            problem = (f"label {row[0].strip()!r} is not one of the declared labels "
                       f"{', '.join(labels)}")
        if problem:
            if not skip_bad:
                raise DataError(f"{where}: {problem} (or pass --skip-bad / "
                                "data.skip_corrupt=true to leave such rows out)")
            out.problems.append(f"{where}: {problem}")
            continue
        out.texts.append(" ".join(f.strip() for f in row[1:] if f.strip()))
        out.labels.append(labels[row[0].strip()])
    if not out.texts:
        raise DataError(f"{path} holds no usable row")
    return out


def label_set(root: Path) -> tuple[list[str], dict[str, int]]:
    """(class names, label as written -> class index): declared, or those of train.csv."""
    names = declared_classes(root)
    if names is not None:
        return names, {str(k + 1): k for k in range(len(names))}
    seen = sorted({row[0].strip() for _, row in _records(root / "train.csv")
                   if row and row[0].strip() and not _BAD_BYTES.search(row[0])},
                  key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
    if len(seen) < 2:
        raise DataError(f"{root / 'train.csv'} has {len(seen)} distinct labels; a classifier "
                        f"needs two (or declare them in {CLASSES_FILE})")
    return seen, {name: k for k, name in enumerate(seen)}


def read_csv_dataset(root: str, skip_bad: bool = False
                     ) -> tuple[TextRows, TextRows, list[str]]:
    """(train rows, test rows, class names) of an AG News-style folder."""
    base = Path(root)
    if not base.is_dir():
        raise DataError(f"text data folder {root!r} does not exist; point data.root at a "
                        "folder with train.csv and test.csv")
    if not (base / "train.csv").is_file():
        raise DataError(f"{base / 'train.csv'} does not exist; text data needs train.csv and "
                        "test.csv (label, title, text per row)")
    classes, labels = label_set(base)
    return (read_rows(base / "train.csv", labels, skip_bad),
            read_rows(base / "test.csv", labels, skip_bad), classes)

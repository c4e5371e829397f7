"""Reading LFW-format layouts: the pairs as LFW numbers them, and a bad layout refused in
one line before any model is read or any image embedded."""

import pytest
import torch

from resnets.cli import main
from resnets.metric import verify as V
from resnets.metric.lfw import read_pairs, write_pairs


@pytest.fixture
def layout(tmp_path):
    """Alice with 3 images, Bob with 2, Carol with 1 (as LFW names them)."""
    root = tmp_path / "lfw"
    for name, count in (("Alice", 3), ("Bob", 2), ("Carol", 1)):
        (root / name).mkdir(parents=True)
        for i in range(1, count + 1):
            (root / name / f"{name}_{i:04d}.jpg").write_bytes(b"")
    return root


def write(root, text):
    (root / "pairs.txt").write_text(text)


def test_pairs_are_read_fold_by_fold_matched_first(layout):
    write(layout, "2 1\nAlice 1 3\nAlice 2 Carol 1\nBob 1 2\nCarol 1 Bob 2\n")
    pairs = read_pairs(layout)
    assert [(p.first.name, p.second.name, p.same, p.fold) for p in pairs] == [
        ("Alice_0001.jpg", "Alice_0003.jpg", True, 0),
        ("Alice_0002.jpg", "Carol_0001.jpg", False, 0),
        ("Bob_0001.jpg", "Bob_0002.jpg", True, 1),
        ("Carol_0001.jpg", "Bob_0002.jpg", False, 1)]


@pytest.mark.parametrize("text, message", [
    ("1 1\nAlice 1 4\nAlice 1 Bob 1\n", "pairs.txt:2 names Alice_0004 but"),
    ("1 1\nAlice 1 2\nAlice 1 Dave 1\n", "names identity 'Dave' but"),
    ("1 1\nCarol 1 2\nAlice 1 Bob 1\n", "'Carol' has 1 image in"),
    ("1 1\nAlice 2 2\nAlice 1 Bob 1\n", "a matched pair of image 2 with itself"),
    ("10 300\nAlice 1 2\nAlice 1 Bob 1\n", "announces 10 folds of 300"),
    ("ten\nAlice 1 2\nAlice 1 Bob 1\n", "the first line must be the number of folds"),
    ("1 1\nAlice 1 Bob 2\nAlice 1 Bob 1\n", "expected 'name i j' (a matched pair)"),
    ("1 1\nAlice 1 2\nAlice 1 2\n", "expected 'name1 i name2 j' (a mismatched pair)"),
    ("1 1\nAlice 1 x\nAlice 1 Bob 1\n", "image numbers are positive integers"),
    ("", "is empty"),
])
def test_bad_layouts_stop_in_one_line_before_any_embedding(layout, text, message, capsys,
                                                           monkeypatch, tmp_path):
    write(layout, text)

    def no_model(*args):
        raise AssertionError("the model was read before the layout was checked")

    monkeypatch.setattr(V, "embedder", no_model)
    code = main(["verify", str(layout), "--checkpoint", str(tmp_path), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_a_missing_pairs_file_names_the_fix(layout, capsys):
    assert main(["verify", str(layout), "--checkpoint", "x", "--device", "cpu"]) == 2
    assert "write LFW's pairs.txt there" in capsys.readouterr().err


def test_writer_refuses_data_without_a_possible_matched_pair(tmp_path):
    from resnets.errors import DataError

    images = torch.zeros(2, 1, 2, 2, dtype=torch.uint8)
    with pytest.raises(DataError, match="needs two identities"):
        write_pairs(tmp_path / "x", images, torch.tensor([0, 1]), ["a", "b"], 1, 1, 0)

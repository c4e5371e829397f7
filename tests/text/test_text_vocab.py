"""The character vocabulary: ids by hand, cutting, padding, unknown characters."""

from __future__ import annotations

from resnets.text.vocab import ALPHABET, PAD, SPACE, UNKNOWN, Vocabulary


def test_ids_by_hand():
    vocab = Vocabulary(length=8)
    assert len(vocab) == 71 and len(ALPHABET) == 68
    ids = vocab.encode(["Ab 9\tÉ!", "x"])
    assert ids.shape == (2, 8)
    a, b, nine, bang = (3 + ALPHABET.index(c) for c in "ab9!")
    assert ids[0].tolist() == [a, b, SPACE, nine, SPACE, UNKNOWN, bang, PAD]
    assert ids[1].tolist() == [3 + ALPHABET.index("x")] + [PAD] * 7
    assert vocab.decode(ids[0]) == "ab 9 ?!"


def test_long_texts_are_cut():
    vocab = Vocabulary(length=5)
    assert vocab.decode(vocab.encode(["hello world"])[0]) == "hello"
    assert Vocabulary().encode(["z" * 2000]).shape == (1, 1014)

"""The character vocabulary of VDCNN (Conneau et al. 2017, after Zhang et al. 2015).

Texts are lower-cased; each character becomes one id: 0 pads, 1 stands for any character
outside the alphabet (accents, other scripts, emoji), 2 for white space, then Zhang et al.'s
68 letters, digits and punctuation marks: 71 ids in all. Longer texts are cut at ``length``
characters (the papers: 1014).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PAD, UNKNOWN, SPACE = 0, 1, 2
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-,;.!?:'\"/\\|_@#$%^&*~`+=<>()[]{}"


@dataclass(frozen=True)
class Vocabulary:
    alphabet: str = ALPHABET  # characters with their own id, from 3 on
    length: int = 1014  # characters per text: longer ones are cut, shorter ones padded

    def __len__(self) -> int:
        return 3 + len(self.alphabet)

    def table(self) -> np.ndarray:
        """id of every ASCII code (128 entries); codes above 127 are unknown."""
        ids = np.full(128, UNKNOWN, dtype=np.uint8)
        ids[[ord(c) for c in " \t\n\r\f\v"]] = SPACE
        ids[[ord(c) for c in self.alphabet]] = np.arange(3, len(self), dtype=np.uint8)
        return ids

    def encode(self, texts: list[str]) -> torch.Tensor:
        """N texts -> N x length uint8 ids (cut or zero-padded)."""
        table, out = self.table(), np.zeros((len(texts), self.length), dtype=np.uint8)
        for row, text in enumerate(texts):
            codes = np.frombuffer(text[:self.length].lower().encode("utf-32-le"), dtype="<u4")
            out[row, :len(codes)] = np.where(codes < 128, table[np.minimum(codes, 127)],
                                             UNKNOWN)
        return torch.from_numpy(out)

    def decode(self, ids: torch.Tensor) -> str:
        """The characters of one row of ids (unknown as '?', padding dropped)."""
        chars = {PAD: "", UNKNOWN: "?", SPACE: " "}
        chars.update({i + 3: c for i, c in enumerate(self.alphabet)})
        return "".join(chars[int(i)] for i in ids)

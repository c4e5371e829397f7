"""Class-id masks as palette PNGs, the format of PASCAL VOC's segmentation labels.

Below the tasks: segmentation reads and writes them, detection colours its boxes with the
same palette, and the synthetic shapes sets write them.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image


def voc_palette(size: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map: the bits of each class index spread over R, G and B.

    Bit 3k, 3k+1 and 3k+2 of the index set bit 7-k of red, green and blue, so 0 is black,
    1 dark red (128, 0, 0), 2 dark green (0, 128, 0), 3 olive (128, 128, 0), ...
    """
    palette = np.zeros((size, 3), dtype=np.uint8)
    for index in range(size):
        value, rgb = index, [0, 0, 0]
        for shift in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= (value & 1) << shift
                value >>= 1
        palette[index] = rgb
    return palette


def write_index_png(labels: np.ndarray, path: str | os.PathLike) -> None:
    """Save class ids (H x W uint8) as a palette PNG that viewers show in VOC colours."""
    image = Image.fromarray(np.asarray(labels, dtype=np.uint8), mode="P")
    image.putpalette(voc_palette().reshape(-1).tolist())
    image.save(path)

"""ImageNet transforms at small sizes: the right crops, flips and normalisation."""

from __future__ import annotations

import pickle

import numpy as np
import torch
from PIL import Image

from resnets.data.transforms import (IMAGENET_MEAN, IMAGENET_STD, imagenet_eval_transform,
                                     imagenet_train_transform)


def _image(h: int = 8, w: int = 8, seed: int = 0) -> tuple[Image.Image, torch.Tensor]:
    array = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Image.fromarray(array), torch.from_numpy(array).permute(2, 0, 1)


def _normalised(pixels: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (pixels.float() / 255 - mean) / std


def test_eval_is_a_normalised_centre_crop():
    image, pixels = _image(8, 8)
    # The shorter side is already `resize`, so resizing keeps the pixels; crop 6 of 8.
    out = imagenet_eval_transform(6, resize=8)(image)
    assert type(out) is torch.Tensor and out.shape == (3, 6, 6)
    assert torch.allclose(out, _normalised(pixels[:, 1:7, 1:7]), atol=1e-5)


def test_eval_resizes_the_shorter_side_by_the_standard_ratio():
    image, _ = _image(16, 32)  # 16 x 32 -> shorter side 16 = round(14 / 0.875)
    assert imagenet_eval_transform(14)(image).shape == (3, 14, 14)
    wide, _ = _image(20, 40)
    out = imagenet_eval_transform(14, ten_crop=True)(wide)
    assert out.shape == (10, 3, 14, 14)


def test_ten_crop_is_corners_centre_and_their_mirrors():
    image, pixels = _image(8, 8, seed=1)
    crops = imagenet_eval_transform(6, resize=8, ten_crop=True)(image)
    expected = [_normalised(pixels[:, t:t + 6, left:left + 6])
                for t, left in [(0, 0), (0, 2), (2, 0), (2, 2), (1, 1)]]
    first, mirrored = crops[:5], crops[5:]
    for crop in expected:  # each of the five windows appears exactly once
        assert sum(torch.allclose(c, crop, atol=1e-5) for c in first) == 1
    # The last five are the same windows of the mirrored image: the first five, mirrored.
    for crop in first.flip(-1):
        assert sum(torch.allclose(m, crop, atol=1e-5) for m in mirrored) == 1
    pickle.loads(pickle.dumps(imagenet_eval_transform(6, ten_crop=True)))  # worker-safe


def test_train_crop_size_normalisation_and_flip():
    image, pixels = _image(8, 8, seed=2)
    transform = imagenet_train_transform(8, scale=(1.0, 1.0))
    full, mirrored = _normalised(pixels), _normalised(pixels.flip(-1))
    kinds = []
    torch.manual_seed(0)
    for _ in range(60):
        out = transform(image)
        assert type(out) is torch.Tensor and out.shape == (3, 8, 8)
        # Whole-image crop at aspect 3/4..4/3 resized back: close to the image or its mirror.
        kinds.append(bool((out - mirrored).abs().mean() < (out - full).abs().mean()))
    assert 15 < sum(kinds) < 45  # both orientations occur
    small = imagenet_train_transform(5)(image)
    assert small.shape == (3, 5, 5)
    torch.manual_seed(3)
    first = imagenet_train_transform(5)(image)
    torch.manual_seed(3)
    assert torch.equal(first, imagenet_train_transform(5)(image))

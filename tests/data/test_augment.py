"""Batch augmentation: crops are windows of the zero-padded image, flips are fair coins."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from resnets.data.augment import CropFlip, channel_stats, normalize, random_crop, random_flip
from resnets.data.base import ArrayDataset
from resnets.errors import DataError


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(n=64, c=3, h=6, w=5, dtype=torch.uint8, seed=0) -> torch.Tensor:
    # Pixel values 1..255: zero marks padding, so every window of a padded image is unique.
    return torch.randint(1, 256, (n, c, h, w), generator=_gen(seed)).to(dtype)


def _window_offsets(original: torch.Tensor, cropped: torch.Tensor, padding: int) -> list:
    """For each image, the (top, left) windows of its padded version equal to the crop."""
    h, w = original.shape[-2:]
    padded = F.pad(original, (padding,) * 4)
    found = []
    for image, crop in zip(padded, cropped):
        found.append([(t, left) for t in range(2 * padding + 1) for left in range(2 * padding + 1)
                      if torch.equal(image[:, t:t + h, left:left + w], crop)])
    return found


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_crop_keeps_shape_and_dtype_and_padding_zero_is_identity(dtype):
    batch = _batch(dtype=dtype)
    assert torch.equal(random_crop(batch, 0, _gen()), batch)
    out = random_crop(batch, 2, _gen())
    assert out.shape == batch.shape and out.dtype == dtype


def test_every_crop_is_a_window_of_the_padded_image_and_offsets_cover_all():
    batch = _batch(n=300)
    cropped = random_crop(batch, 1, _gen(1))
    offsets = _window_offsets(batch, cropped, padding=1)
    assert all(len(match) == 1 for match in offsets)  # exactly one window, per image
    seen = {match[0] for match in offsets}
    assert seen == {(t, left) for t in range(3) for left in range(3)}
    # Shifted crops bring in zero padding; the centre window keeps every original pixel.
    centre = [i for i, match in enumerate(offsets) if match[0] == (1, 1)]
    assert torch.equal(cropped[centre], batch[centre])
    assert (cropped == 0).any()


def test_crop_and_flip_are_reproducible_from_the_generator():
    batch = _batch()
    assert torch.equal(random_crop(batch, 4, _gen(7)), random_crop(batch, 4, _gen(7)))
    assert not torch.equal(random_crop(batch, 4, _gen(7)), random_crop(batch, 4, _gen(8)))
    assert torch.equal(random_flip(batch, _gen(7)), random_flip(batch, _gen(7)))
    with pytest.raises(DataError, match="padding must be >= 0"):
        random_crop(batch, -1, _gen())


def test_flip_mirrors_about_half_of_the_images():
    batch = _batch(n=4000, c=1, h=2, w=3)
    out = random_flip(batch, _gen(3))
    same = (out == batch).flatten(1).all(1)
    mirrored = (out == batch.flip(-1)).flatten(1).all(1)
    assert torch.all(same | mirrored)  # each image is whole: untouched or mirrored
    flipped = (mirrored & ~same).double().mean()
    assert 0.47 < flipped < 0.53
    assert torch.equal(random_flip(batch, _gen(3), p=0.0), batch)
    assert torch.equal(random_flip(batch, _gen(3), p=1.0), batch.flip(-1))


def test_crop_flip_is_a_crop_then_a_flip_of_it():
    batch = _batch(n=200)
    out = CropFlip(padding=2)(batch, _gen(5))
    generator = _gen(5)
    cropped = random_crop(batch, 2, generator)
    assert torch.equal(out, random_flip(cropped, generator))
    assert torch.equal(CropFlip(2, flip=False)(batch, _gen(5)), cropped)


def _colour_dataset() -> ArrayDataset:
    generator = _gen(11)
    images = torch.stack([torch.randint(0, 100, (500, 8, 8), generator=generator),
                          torch.randint(100, 256, (500, 8, 8), generator=generator),
                          torch.randint(0, 256, (500, 8, 8), generator=generator)], dim=1)
    return ArrayDataset(images.to(torch.uint8), torch.zeros(500, dtype=torch.long), ["x"])


def test_channel_stats_match_a_direct_computation_and_chunking():
    ds = _colour_dataset()
    mean, std = channel_stats(ds)
    pixels = ds.images.double().div(255).transpose(0, 1).flatten(1)
    assert torch.allclose(torch.tensor(mean, dtype=torch.float64), pixels.mean(1))
    expected_std = pixels.std(1, unbiased=False)
    assert torch.allclose(torch.tensor(std, dtype=torch.float64), expected_std)
    chunked_mean, chunked_std = channel_stats(ds, chunk=7)
    assert chunked_mean == pytest.approx(mean) and chunked_std == pytest.approx(std)
    assert mean[0] < 0.4 < mean[1]  # the channels really differ


def test_normalized_batches_have_zero_mean_unit_std_per_channel():
    ds = _colour_dataset()
    mean, std = channel_stats(ds)
    out = normalize(ds.images.float() / 255, mean, std)
    per_channel = out.transpose(0, 1).flatten(1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(3), atol=1e-4)
    assert torch.allclose(per_channel.std(1, unbiased=False), torch.ones(3), atol=1e-4)


def test_normalize_and_stats_errors():
    with pytest.raises(DataError, match="expects a float batch"):
        normalize(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), [0, 0, 0], [1, 1, 1])
    with pytest.raises(DataError, match=r"one value per channel \(3\), got 1 and 3"):
        normalize(torch.zeros(1, 3, 2, 2), [0], [1, 1, 1])
    flat = ArrayDataset(torch.full((2, 1, 2, 2), 7, dtype=torch.uint8),
                        torch.zeros(2, dtype=torch.long), ["x"])
    with pytest.raises(DataError, match="std 0"):
        channel_stats(flat)

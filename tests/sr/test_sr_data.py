"""The training pairs of a folder: each image at each of ``data.downscales``."""

import pytest
import torch

from resnets.errors import DataError
from resnets.sr.data import ImagePairs, training_patches
from sr_folders import write_image


def test_each_downscale_is_one_more_image_shrunk_before_its_pair_is_made(tmp_path):
    write_image(tmp_path / "a.png", 40, 36)
    pairs = ImagePairs(tmp_path, "data.train", 2, 3, 8, "x", "y", downscales=(1.0, 0.5))
    assert len(pairs) == 2
    (lr_full, hr_full), (lr_half, hr_half) = pairs[0], pairs[1]
    assert hr_full.shape == (3, 36, 40) and lr_full.shape == (3, 18, 20)
    assert hr_half.shape == (3, 18, 20) and lr_half.shape == (3, 9, 10)
    # The half-size HR is the image shrunk (its 2x2 means, to within interpolation), not a crop.
    pooled = torch.nn.functional.avg_pool2d(hr_full[None].float(), 2)[0]
    assert (hr_half.float() - pooled).abs().mean() < 8
    assert not torch.equal(hr_half, hr_full[:, :18, :20])
    patches = training_patches(tmp_path, 2, 3, 4, repeat=3, augment=False,
                               downscales=(1.0, 0.5))
    assert len(patches) == 6 and patches[1][1].shape == (3, 8, 8)


def test_an_image_too_small_at_its_smallest_downscale_is_named(tmp_path):
    write_image(tmp_path / "a.png", 40, 36)
    with pytest.raises(DataError, match=r"a.png is 40x36, smaller when downscaled by 0.25 than "
                       r"the 16x16 .*raise the smallest of data.downscales"):
        training_patches(tmp_path, 2, 3, 8, repeat=1, augment=False, downscales=(1.0, 0.25))

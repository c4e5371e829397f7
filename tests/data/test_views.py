"""Random views of batches: per-image draws, reproducible seeds, torchvision's colour maths."""

import math

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from resnets.data.views import (TwoViews, ViewsConfig, adjust_brightness, adjust_contrast,
                                adjust_hue, adjust_saturation, crop_boxes, gaussian_blur,
                                resized_crop)
from resnets.errors import ResnetsError


def images(n=6, channels=3, side=16, seed=0):
    return torch.rand(n, channels, side, side, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("op, ours, factors", [
    (TF.adjust_brightness, adjust_brightness, (0.6, 1.4)),
    (TF.adjust_contrast, adjust_contrast, (0.6, 1.4)),
    (TF.adjust_saturation, adjust_saturation, (0.0, 0.6, 1.4)),
    (TF.adjust_hue, adjust_hue, (-0.4, -0.1, 0.05, 0.3)),
])
def test_colour_operations_equal_torchvisions_for_each_images_factor(op, ours, factors):
    batch = images(len(factors))
    out = ours(batch, torch.tensor(factors))
    for image, factor, got in zip(batch, factors, out):
        assert torch.allclose(got, op(image, factor), atol=1e-5), factor


def test_blur_equals_torchvisions_for_each_images_sigma():
    batch, sigmas = images(2), (0.5, 1.7)
    out = gaussian_blur(batch, torch.tensor(sigmas), 5)
    for image, sigma, got in zip(batch, sigmas, out):
        assert torch.allclose(got, TF.gaussian_blur(image, [5, 5], [sigma, sigma]), atol=1e-5)


def test_crop_boxes_lie_inside_the_image_within_the_scale_and_ratio_ranges():
    scale, ratio = (0.2, 0.6), (0.5, 2.0)
    boxes = crop_boxes(500, 24, 32, scale, ratio, torch.Generator().manual_seed(1))
    top, left, h, w = boxes.unbind(1)
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + h <= 24).all() and (left + w <= 32).all()
    area, aspect = (h * w).float() / (24 * 32), w.float() / h.float()
    # Rounding a box to whole pixels moves its area and ratio by at most about a pixel's worth.
    assert area.min() >= scale[0] - 0.05 and area.max() <= scale[1] + 0.05
    assert aspect.min() >= ratio[0] * 0.85 and aspect.max() <= ratio[1] / 0.85
    assert len(set(map(tuple, boxes.tolist()))) > 400  # each image its own box


def test_a_crop_that_fits_nowhere_falls_back_to_the_whole_image():
    boxes = crop_boxes(4, 8, 8, (0.99, 1.0), (3.0, 4.0), torch.Generator().manual_seed(0))
    assert boxes.tolist() == [[2, 0, 3, 8]] * 4  # width 8, height 8 / 3 rounded, centred


def test_the_whole_image_box_resizes_to_the_image_itself():
    batch = images(2)
    assert torch.allclose(resized_crop(batch, torch.tensor([[0, 0, 16, 16]] * 2), (16, 16)),
                          batch, atol=1e-6)


def test_views_differ_per_image_and_follow_the_seed_alone():
    same = (images(1) * 255).to(torch.uint8).repeat(8, 1, 1, 1)
    views = ViewsConfig(blur=0.5, solarize=0.2)
    a = views(same, torch.Generator().manual_seed(3))
    assert a.shape == same.shape and a.dtype == torch.float32
    assert 0 <= a.min() and a.max() <= 1
    assert all(not torch.equal(a[0], a[i]) for i in range(1, 8))  # each image its own draw
    assert torch.equal(a, views(same, torch.Generator().manual_seed(3)))
    assert not torch.equal(a, views(same, torch.Generator().manual_seed(4)))
    two = TwoViews(views, views)(same, torch.Generator().manual_seed(3))
    assert two.shape[0] == 16 and torch.equal(two[:8], a)  # the first views come first


def test_grey_images_keep_one_channel_and_only_the_grey_operations():
    grey = images(4, channels=1)
    assert torch.equal(adjust_saturation(grey, torch.zeros(4)), grey)
    assert torch.equal(adjust_hue(grey, torch.full((4,), 0.3)), grey)
    out = ViewsConfig()(grey, torch.Generator().manual_seed(0))
    assert out.shape == grey.shape and math.isfinite(out.sum().item())


def test_reversed_ranges_are_refused_in_one_line():
    with pytest.raises(ResnetsError, match="views.crop_min_scale=0.9 is above"):
        ViewsConfig(crop_min_scale=0.9, crop_max_scale=0.5)

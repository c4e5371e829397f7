"""PSNR and SSIM: against torchmetrics' implementations and against cases worked by hand."""

import math

import pytest
import torch
from torchmetrics.functional.image import (peak_signal_noise_ratio,
                                           structural_similarity_index_measure)

from resnets.errors import ResnetsError
from resnets.train.image_quality import luminance, psnr, ssim


def noisy_pair(seed: int = 0, shape=(2, 3, 40, 36)) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=gen, dtype=torch.float64)
    pred = (target + 0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    return pred, target


def test_psnr_matches_torchmetrics_per_image():
    pred, target = noisy_pair()
    theirs = peak_signal_noise_ratio(pred, target, data_range=1.0, reduction="none",
                                     dim=(1, 2, 3))
    assert torch.allclose(psnr(pred, target), theirs, atol=1e-9)
    assert torch.allclose(psnr(pred * 255, target * 255, data_range=255.0), theirs,
                          atol=1e-9)


def torchmetrics_ssim(pred: torch.Tensor, target: torch.Tensor) -> float:
    """torchmetrics' SSIM (11 x 11 Gaussian, sigma 1.5) over the windows inside the image:
    its map is cropped by the window's half width, leaving the pixels its reflection padding
    reached (Wang et al. average the windows that fit, as scikit-image does)."""
    _, full = structural_similarity_index_measure(
        pred[None], target[None], gaussian_kernel=True, sigma=1.5, kernel_size=11,
        data_range=1.0, k1=0.01, k2=0.03, return_full_image=True)
    return full[..., 5:-5, 5:-5].mean().item()


def test_ssim_matches_torchmetrics_gaussian_window():
    pred, target = noisy_pair(1)
    scores = ssim(pred, target)
    for image in range(2):
        assert scores[image].item() == pytest.approx(
            torchmetrics_ssim(pred[image], target[image]), abs=1e-9)


def test_ssim_on_luminance_matches_torchmetrics_on_the_hand_made_y():
    pred, target = noisy_pair(2)
    weights = torch.tensor([65.481, 128.553, 24.966], dtype=torch.float64).view(3, 1, 1)
    y_pred, y_target = ((x[0] * weights).sum(0, keepdim=True) / 255 + 16 / 255
                        for x in (pred, target))
    theirs = torchmetrics_ssim(y_pred[:, 2:-2, 2:-2], y_target[:, 2:-2, 2:-2])
    assert ssim(pred, target, crop_border=2, y_channel=True)[0].item() == pytest.approx(
        theirs, abs=1e-9)


def test_identical_images_score_infinity_and_one():
    _, target = noisy_pair()
    assert psnr(target, target).tolist() == [math.inf, math.inf]
    assert ssim(target, target).tolist() == [1.0, 1.0]
    one = target[0].float()  # one C x H x W image: one number
    assert psnr(one, one).dim() == 0 and ssim(one, one).item() == 1.0


def test_known_mse_gives_its_psnr_in_rgb_and_in_luminance():
    target = torch.full((3, 16, 16), 0.5, dtype=torch.float64)
    pred = target + 0.1  # MSE 0.01 in every channel
    assert psnr(pred, target).item() == pytest.approx(20.0, abs=1e-9)
    # Y moves by 0.1 * (65.481 + 128.553 + 24.966) / 255 = 0.1 * 219 / 255
    assert psnr(pred, target, y_channel=True).item() == pytest.approx(
        20.0 - 20 * math.log10(219 / 255), abs=1e-9)


def test_bt601_luminance_of_black_and_white():
    black_white = torch.stack([torch.zeros(3, 1, 1), torch.ones(3, 1, 1)])
    assert luminance(black_white).flatten().tolist() == pytest.approx([16 / 255, 235 / 255])
    grey = torch.rand(1, 4, 4)
    assert torch.equal(luminance(grey), grey)  # 1-channel images are their own luminance


def test_the_border_crop_leaves_out_errors_on_the_border():
    target = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(3))
    pred = target.clone()
    pred[..., :2, :] = 0  # wrong only in the top two rows
    assert math.isfinite(psnr(pred, target, crop_border=1).item())
    assert psnr(pred, target, crop_border=2).item() == math.inf


def test_bad_inputs_are_one_line_errors():
    a = torch.rand(3, 20, 20)
    with pytest.raises(ResnetsError, match="differ in shape"):
        psnr(a, a[:, :10])
    with pytest.raises(ResnetsError, match="window does not fit"):
        ssim(a[:, :10, :10], a[:, :10, :10])
    with pytest.raises(ResnetsError, match="leaves nothing"):
        psnr(a, a, crop_border=10)
    with pytest.raises(ResnetsError, match="RGB or 1-channel"):
        psnr(torch.rand(2, 8, 8), torch.rand(2, 8, 8), y_channel=True)

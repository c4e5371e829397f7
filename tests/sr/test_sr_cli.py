"""`resnets sr evaluate|predict|photos` end to end on generated images, RGB and grayscale:
the scores are those of the images predict writes, bicubic's are computed independently."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from resnets.cli import main
from resnets.train.image_quality import psnr, ssim

TRAIN = ["--model", "edsr_baseline_x2", "--blocks", "1", "--features", "4", "--patch-size",
         "8", "--repeat", "2", "--batch-size", "2", "--steps", "2", "--device", "cpu"]


def trained(root, out, *settings):
    assert main(["sr", "train", "--train", str(root / "train"), "--val", str(root / "val"),
                 *TRAIN, *settings, "--out-dir", str(out), "--run-name", "run"]) == 0
    return out / "run"


def as_tensor(path) -> torch.Tensor:
    pixels = np.asarray(Image.open(path))
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 255


@pytest.mark.parametrize("channels", [3, 1])
def test_evaluate_scores_the_images_that_predict_writes(channels, photos, grey, tmp_path,
                                                        capsys):
    root = photos if channels == 3 else grey
    run = trained(root, tmp_path, "--channels", str(channels))
    capsys.readouterr()
    val = root / "val" / "c.png"  # 30 x 26: both sides even, no crop to a multiple of 2
    assert main(["sr", "predict", "--checkpoint", str(run), str(val), "--out",
                 str(tmp_path / "up")]) == 0
    written = tmp_path / "up" / "c_x2.png"
    assert capsys.readouterr().out.strip() == f"wrote {written}"
    with Image.open(written) as image:
        assert image.size == (60, 52) and image.mode == ("RGB" if channels == 3 else "L")
    assert main(["sr", "evaluate", str(run), "--device", "cpu", "--out",
                 str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["images"] == 1 and metrics["scale"] == 2
    # The validation image is the HR; its LR is the antialiased bicubic downscale, 8 bits.
    hr = as_tensor(val)
    lr = (F.interpolate(hr[None] * 255, size=(13, 15), mode="bicubic", antialias=True)
          .round().clamp(0, 255) / 255)
    bicubic = (F.interpolate(lr, scale_factor=2, mode="bicubic")[0].clamp(0, 1) * 255
               ).round() / 255
    assert metrics["bicubic_psnr"] == pytest.approx(
        psnr(bicubic, hr, crop_border=2, y_channel=True).item(), abs=1e-9)
    assert metrics["bicubic_ssim"] == pytest.approx(
        ssim(bicubic, hr, crop_border=2, y_channel=True).item(), abs=1e-9)
    lr_file = tmp_path / "lr.png"  # predict enlarges any image: here the LR that was scored
    lr_pixels = (lr[0] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    Image.fromarray(lr_pixels[..., 0] if channels == 1 else lr_pixels).save(lr_file)
    assert main(["sr", "predict", "--checkpoint", str(run), str(lr_file), "--out",
                 str(tmp_path / "up")]) == 0
    restored = as_tensor(tmp_path / "up" / "lr_x2.png")
    assert metrics["psnr"] == pytest.approx(
        psnr(restored, hr, crop_border=2, y_channel=True).item(), abs=1e-9)
    assert metrics["ssim"] == pytest.approx(
        ssim(restored, hr, crop_border=2, y_channel=True).item(), abs=1e-9)


def test_evaluate_and_predict_refuse_bad_inputs_in_one_line(photos, tmp_path, capsys):
    run = trained(photos, tmp_path)
    (tmp_path / "empty").mkdir()
    for argv, words in (
            (["evaluate", str(run), "--data", str(tmp_path / "empty")], "holds no image"),
            (["evaluate", str(tmp_path)], "holds no checkpoint"),
            (["predict", "--checkpoint", str(run), str(tmp_path / "none.png")],
             "does not exist")):
        assert main(["sr", *argv, "--device", "cpu"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err


def test_photos_writes_a_training_and_a_validation_photo(tmp_path, capsys):
    assert main(["sr", "photos", str(tmp_path / "p"), "--train", "flower"]) == 0
    with Image.open(tmp_path / "p/train/flower.png") as train, \
            Image.open(tmp_path / "p/val/china.png") as val:
        assert train.size == val.size == (640, 427)
    assert main(["sr", "photos", str(tmp_path / "p")]) == 2  # not empty: --force
    assert "pass --force" in capsys.readouterr().err

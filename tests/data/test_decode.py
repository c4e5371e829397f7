"""Decoding image files: torchvision's pixels are PIL's, damaged files fail in one line, and
the device-decode branch serves what the worker path serves."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from resnets.data.decode import (DeviceDecodedBatches, EncodedFiles, collate_encoded,
                                 decode_image, decode_tensor, resolve_decoder)
from resnets.data.folder import SKIP_CORRUPT_FIX, ImageFolderDataset
from resnets.data.steps import StepLoader
from resnets.data.transforms import imagenet_train_transform
from resnets.errors import DataError


def photo(seed=0, size=(75, 100)):
    """A smooth image with noise (JPEG's worst and best cases in one)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, size[1])[None, :, None] * np.ones((size[0], 1, 3))
    return (ramp + rng.integers(0, 50, (*size, 3))).clip(0, 255).astype(np.uint8)


def write_folder(root, fmt="JPEG", count=3):
    for c, name in enumerate(("a", "b")):
        (root / "train" / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(photo(10 * c + i)).save(
                root / "train" / name / f"{i}.{'jpg' if fmt == 'JPEG' else 'png'}", fmt)
    return root


@pytest.mark.parametrize("fmt,suffix", [("JPEG", ".jpg"), ("PNG", ".png")])
def test_torchvision_pixels_match_pil_within_decoder_tolerance(tmp_path, fmt, suffix):
    path = tmp_path / f"x{suffix}"
    Image.fromarray(photo()).save(path, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    ours = decode_tensor(path, "torchvision").int()
    pil = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).permute(2, 0, 1).int()
    assert ours.shape == pil.shape == (3, 75, 100) and ours.dtype == torch.int32
    # Both link libjpeg-turbo; its IDCT may differ in the last bit between builds.
    assert (ours - pil).abs().max() <= (2 if fmt == "JPEG" else 0)


def test_formats_torchvision_does_not_read_go_to_pil(tmp_path):
    gray16 = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 5), 40000, dtype=np.uint16)).save(gray16)
    bmp = tmp_path / "x.bmp"
    Image.fromarray(photo(size=(4, 5))).save(bmp)
    for path in (gray16, bmp):
        assert torch.equal(decode_tensor(path, "torchvision"), decode_tensor(path, "pil"))


def test_a_damaged_file_fails_in_one_line_naming_it_and_the_fix(tmp_path):
    bad = tmp_path / "cut.jpg"
    whole = io.BytesIO()
    Image.fromarray(photo()).save(whole, "JPEG")
    bad.write_bytes(b"garbage" + whole.getvalue()[:200])
    for decoder in ("torchvision", "pil"):
        with pytest.raises(DataError, match=r"cannot decode image .*cut.jpg .*skip_corrupt") as e:
            decode_tensor(bad, decoder, SKIP_CORRUPT_FIX)
        assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="cannot decode image shard.tar:k.jpg"):
        decode_image(b"nope", name="shard.tar:k.jpg")


def test_unknown_decoder_is_refused_and_auto_is_the_measured_fastest():
    assert resolve_decoder("auto") == "torchvision"
    with pytest.raises(DataError, match="unknown decoder 'cv2'; choose one of auto, pil"):
        resolve_decoder("cv2")


def test_both_decoders_train_on_the_same_pixels(tmp_path):
    root = write_folder(tmp_path / "img")
    pil = ImageFolderDataset(root, "train", decoder="pil")
    tv = ImageFolderDataset(root, "train", decoder="torchvision")
    for i in range(len(pil)):
        assert (pil[i][0].int() - tv[i][0].int()).abs().max() <= 2 and pil[i][1] == tv[i][1]


def test_device_decoded_batches_equal_the_worker_decoded_ones(tmp_path):
    root = write_folder(tmp_path / "img")
    transform = imagenet_train_transform(32)
    folder = ImageFolderDataset(root, "train", transform=transform)
    plain = StepLoader(folder, 2, seed=4)
    encoded = StepLoader(EncodedFiles(folder), 2, seed=4, collate_fn=collate_encoded)
    on_device = DeviceDecodedBatches(encoded, folder, transform, torch.device("cpu"),
                                     SKIP_CORRUPT_FIX)
    assert len(on_device) == len(plain) == 3
    for epoch, start in ((0, 0), (1, 2)):
        plain.set_epoch(epoch, start)
        on_device.set_epoch(epoch, start)
        pairs = list(zip(plain, on_device, strict=True))
        assert len(pairs) == 3 - start
        for (images, labels), (dev_images, dev_labels) in pairs:
            assert torch.equal(images, dev_images) and torch.equal(labels, dev_labels)


def test_device_decoding_names_a_damaged_file(tmp_path):
    root = write_folder(tmp_path / "img")
    (root / "train" / "a" / "0.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    folder = ImageFolderDataset(root, "train", check=False)
    encoded = StepLoader(EncodedFiles(folder), 6, seed=0, collate_fn=collate_encoded)
    batches = DeviceDecodedBatches(encoded, folder, lambda image: image.float(),
                                   torch.device("cpu"), SKIP_CORRUPT_FIX)
    with pytest.raises(DataError, match=r"cannot decode image .*a/0.jpg .*skip_corrupt=true"):
        next(iter(batches))

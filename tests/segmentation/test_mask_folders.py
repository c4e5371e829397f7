"""Mask folders: palette and index PNGs, checks before training, crops."""

import numpy as np
import pytest
import torch
from PIL import Image

from resnets.errors import DataError
from resnets.data.masks import voc_palette, write_index_png
from resnets.segmentation.data import MaskFolderDataset, random_crop, read_classes, read_mask


def test_voc_palette_colours():
    palette = voc_palette()
    assert palette[:4].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    assert palette[15].tolist() == [192, 128, 128]  # VOC 'person'
    assert len({tuple(c) for c in palette}) == 256


def test_palette_and_grey_index_pngs_read_as_class_ids(tmp_path):
    labels = np.array([[0, 1, 2], [3, 255, 1]], dtype=np.uint8)
    write_index_png(labels, tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as image:
        assert image.mode == "P"
        assert image.convert("RGB").getpixel((1, 0)) == (128, 0, 0)
    Image.fromarray(labels, mode="L").save(tmp_path / "g.png")
    assert np.array_equal(read_mask(tmp_path / "p.png"), labels)
    assert np.array_equal(read_mask(tmp_path / "g.png"), labels)
    Image.fromarray(np.zeros((2, 3, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(DataError, match="RGB image; masks are palette or grey PNGs"):
        read_mask(tmp_path / "rgb.png")


def _pair(root, name, image_size, labels):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    Image.fromarray(np.zeros((*image_size[::-1], 3), dtype=np.uint8)).save(
        root / "images" / f"{name}.png")
    if labels is not None:
        write_index_png(np.asarray(labels, dtype=np.uint8), root / "masks" / f"{name}.png")


def test_whole_training_images_of_two_sizes_ask_for_a_crop_size(tmp_path):
    _pair(tmp_path, "a", (3, 2), [[0, 1, 2], [2, 1, 0]])
    _pair(tmp_path, "b", (2, 2), [[0, 1], [1, 0]])
    with pytest.raises(DataError, match=r"a.png is 3x2, b.png 2x2\); pass --crop-size N"):
        MaskFolderDataset(tmp_path, 3, train=True)
    assert len(MaskFolderDataset(tmp_path, 3, train=True, crop_size=2)) == 2
    assert len(MaskFolderDataset(tmp_path, 3)) == 2  # evaluation takes one image at a time


def test_pairs_are_served_as_tensors(tmp_path):
    _pair(tmp_path, "a", (3, 2), [[0, 1, 2], [2, 1, 0]])
    image, mask = MaskFolderDataset(tmp_path, 3)[0]
    assert image.shape == (3, 2, 3) and mask.tolist() == [[0, 1, 2], [2, 1, 0]]


@pytest.mark.parametrize("image_size,labels,message,reason", [
    ((3, 2), None, "has no mask", "missing mask"),
    ((4, 2), [[0, 1, 2], [2, 1, 0]], "is 3x2 but its image is 4x2", "size mismatch"),
    ((3, 2), [[0, 1, 7], [2, 1, 0]], "class id 7 but only 3 classes", "class id out of range"),
])
def test_bad_pairs_fail_or_are_skipped(tmp_path, image_size, labels, message, reason):
    _pair(tmp_path, "good", (3, 2), [[0, 1, 2], [2, 1, 255]])
    _pair(tmp_path, "bad", image_size, labels)
    with pytest.raises(DataError, match=message) as err:
        MaskFolderDataset(tmp_path, 3)
    assert "bad.png" in str(err.value) and "--skip-bad" in str(err.value)
    dataset = MaskFolderDataset(tmp_path, 3, skip_bad=True)
    assert len(dataset) == 1 and dataset.skipped == {reason: 1}


def test_classes_come_from_classes_txt_or_the_count(tmp_path):
    (tmp_path / "train").mkdir()
    assert read_classes(tmp_path / "train", 3) == ["0", "1", "2"]
    with pytest.raises(DataError, match="no classes.txt"):
        read_classes(tmp_path / "train")
    (tmp_path / "classes.txt").write_text("background\ncat\n")
    assert read_classes(tmp_path / "train") == ["background", "cat"]
    with pytest.raises(DataError, match="lists 2 classes but --num-classes is 3"):
        read_classes(tmp_path / "train", 3)
    with pytest.raises(DataError, match="folder .*missing.* not found"):
        read_classes(tmp_path / "missing", 3)


def test_crops_pad_with_ignored_pixels():
    image, mask = torch.ones(3, 2, 3), torch.zeros(2, 3, dtype=torch.int64)
    crop_image, crop_mask = random_crop(image, mask, 4)
    assert crop_image.shape == (3, 4, 4)
    assert (crop_mask == 255).sum() == 16 - 6 and (crop_image[0] == 1).sum() == 6


@pytest.mark.parametrize("kind", ["empty", "junk", "truncated", "bomb", "huge"])
@pytest.mark.parametrize("part", ["images", "masks"])
def test_unreadable_images_and_masks_fail_in_one_line_or_are_skipped(tmp_path, bad_images,
                                                                     part, kind):
    for name in ("a", "b", "c"):
        _pair(tmp_path, name, (3, 2), [[0, 1, 2], [2, 1, 0]])
    (tmp_path / part / "b.png").write_bytes(bad_images[kind])
    with pytest.raises(DataError) as err:
        MaskFolderDataset(tmp_path, 3)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"cannot read {part[:-1]} ")
    assert str(tmp_path / part / "b.png") in message
    assert "1 of 3 pairs" in message and "--skip-bad" in message
    dataset = MaskFolderDataset(tmp_path, 3, skip_bad=True)
    assert [image.name for image, _ in dataset.pairs] == ["a.png", "c.png"]
    assert dataset.skipped == {f"unreadable {part[:-1]}": 1}

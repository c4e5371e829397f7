"""Folders in ImageNet's validation layout: wnid or class-name folders -> the 1,000 indices."""

from __future__ import annotations

from pathlib import Path

import pytest

from resnets.data.imagenet import (ImageNetFolder, imagenet_folders, imagenet_index,
                                   imagenet_wnids)
from resnets.errors import DataError
from resnets.models.pretrained import imagenet_classes


def test_the_shipped_wnids_are_timms_list_in_index_order():
    import timm.data  # a test dependency

    listed = (Path(timm.data.__file__).parent / "_info" / "imagenet_synsets.txt").read_text()
    assert imagenet_wnids() == tuple(listed.split())
    assert list(imagenet_wnids()) == sorted(imagenet_wnids())  # ImageFolder's labels too


def test_wnids_and_class_names_map_to_the_same_index():
    assert imagenet_index("n01440764") == 0 == imagenet_index("tench")
    assert imagenet_index(imagenet_wnids()[2]) == 2 == imagenet_index("great white shark")
    assert imagenet_index("Great_White_Shark") == 2  # spelt as a folder name
    assert imagenet_index("Cardigan") == imagenet_classes().index("Cardigan")  # exact wins


def test_a_name_of_two_classes_or_of_none_is_refused():
    with pytest.raises(DataError, match="could be 'Cardigan'.* or 'cardigan'"):
        imagenet_index("CARDIGAN")
    with pytest.raises(DataError, match="'holiday' is neither an ImageNet wnid"):
        imagenet_index("holiday")


def test_a_subset_of_folders_keeps_the_thousand_way_labels(tmp_path):
    from PIL import Image

    for folder in ("n01443537", "tench"):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / folder / "a.png")
    assert imagenet_folders(tmp_path) == {"n01443537": 1, "tench": 0}
    dataset = ImageNetFolder(tmp_path)
    assert dataset.num_classes == 1000 and dataset.present == [0, 1]
    assert sorted(label for _, label in dataset.samples) == [0, 1]


def test_two_folders_of_one_class_are_refused(tmp_path):
    (tmp_path / "n01440764").mkdir()
    (tmp_path / "tench").mkdir()
    with pytest.raises(DataError, match="'n01440764' and 'tench' .* both ImageNet class 0"):
        imagenet_folders(tmp_path)

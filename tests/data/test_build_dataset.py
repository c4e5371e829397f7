"""build_dataset: one entry point from a dataset name to its reader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import resnets.data as D
from resnets.errors import DataError


def test_embedded_datasets_match_their_readers():
    digits = D.build_dataset("digits", None, "test", seed=2)
    assert torch.equal(digits.images, D.load_digits("test", seed=2).images)
    train = D.build_dataset("synthetic", "", "train", num_samples=30, image_size=8)
    test = D.build_dataset("synthetic", "", "test", num_samples=30, image_size=8)
    assert torch.equal(train.images, D.make_synthetic(30, image_size=8).images)
    assert not torch.equal(train.images, test.images)


def test_folder_test_split_falls_back_to_val_with_default_transforms(tmp_path):
    for split in ("train", "val"):
        for name in ("cat", "dog"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            pixels = np.random.default_rng(len(name)).integers(0, 256, (12, 10, 3), np.uint8)
            Image.fromarray(pixels).save(folder / "0.png")
    train = D.build_dataset("folder", tmp_path, "train", image_size=8)
    test = D.build_dataset("folder", str(tmp_path), "test", image_size=8)
    assert test.directory == tmp_path / "val" and test.classes == train.classes
    image, label = test[1]
    assert image.shape == (3, 8, 8) and image.dtype == torch.float32 and label == 1
    assert train[0][0].shape == (3, 8, 8)


def test_user_mistakes_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'cifar' \\(did you mean 'cifar10'"):
        D.build_dataset("cifar", tmp_path, "train")
    with pytest.raises(DataError, match="'cifar10' reads files: pass the folder"):
        D.build_dataset("cifar10", None, "train")
    with pytest.raises(DataError, match="no option 'num_sample' \\(did you mean 'num_samples'"):
        D.build_dataset("synthetic", None, "train", num_sample=3)
    with pytest.raises(DataError, match="CIFAR-100 not found under"):
        D.build_dataset("cifar100", tmp_path, "train")


def test_public_names_are_exported():
    assert set(D.__all__) <= set(dir(D))
    for name in ("ArrayDataset", "InMemoryLoader", "split_train_val", "channel_stats",
                 "ImageFolderDataset", "imagenet_train_transform", "IMAGENET_MEAN"):
        assert name in D.__all__

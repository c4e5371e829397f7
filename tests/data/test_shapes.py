"""The synthetic shapes: exact labels, no overlaps, reproducible, readable by both tasks."""

import json

import numpy as np
import pytest

from resnets.data.shapes import SHAPE_CLASSES, ShapesConfig, render_scene, write_shapes
from resnets.data.coco import read_coco
from resnets.errors import DataError, ResnetsError
from resnets.files import WriteError
from resnets.segmentation.data import MaskFolderDataset, read_classes, read_mask

CFG = ShapesConfig(image_size=48, min_objects=2, max_objects=3, min_size=8, max_size=16)


def test_boxes_are_the_tight_boxes_of_disjoint_masks():
    image, shapes = render_scene(np.random.default_rng(3), CFG)
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8
    assert 2 <= len(shapes) <= 3
    covered = np.zeros((48, 48), dtype=int)
    for shape in shapes:
        ys, xs = np.nonzero(shape.mask)
        assert shape.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert 1 <= shape.class_id <= len(SHAPE_CLASSES)
        covered += shape.mask
    assert covered.max() == 1  # no pixel belongs to two shapes


def test_same_seed_same_scene():
    a, shapes_a = render_scene(np.random.default_rng(7), CFG)
    b, shapes_b = render_scene(np.random.default_rng(7), CFG)
    assert np.array_equal(a, b) and [s.box for s in shapes_a] == [s.box for s in shapes_b]


def test_detection_set_is_valid_coco(tmp_path):
    root = write_shapes(tmp_path, "detection", num_train=3, num_val=2, cfg=CFG)
    coco = read_coco(root / "train/annotations.json", root / "train/images")
    assert len(coco.images) == 3 and coco.class_names == list(SHAPE_CLASSES)
    raw = json.loads((root / "train/annotations.json").read_text())
    assert len(coco.annotations) == len(raw["annotations"]) >= 6
    assert not coco.skipped


def test_segmentation_masks_hold_the_class_ids(tmp_path):
    root = write_shapes(tmp_path, "segmentation", num_train=2, num_val=1, cfg=CFG)
    assert read_classes(root / "train") == ["background", *SHAPE_CLASSES]
    mask = read_mask(root / "train/masks/00000.png")
    rng = np.random.default_rng(0)  # the train split's seed: the same first scene
    _, shapes = render_scene(rng, CFG)
    expected = np.zeros((48, 48), dtype=np.int64)
    for shape in shapes:
        expected[shape.mask] = shape.class_id
    assert np.array_equal(mask, expected)
    assert len(MaskFolderDataset(root / "val", 4)) == 1


def test_bad_generator_settings_are_refused(tmp_path):
    with pytest.raises(DataError, match="min_size"):
        ShapesConfig(image_size=16, max_size=32)
    with pytest.raises(DataError, match="unknown task"):
        write_shapes(tmp_path, "classification")


@pytest.mark.parametrize("task", ["detection", "segmentation"])
def test_a_folder_with_files_is_refused_unless_forced(tmp_path, task):
    (tmp_path / "train").mkdir()
    mine = tmp_path / "train/annotations.json"
    mine.write_text("my own annotations")
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    with pytest.raises(ResnetsError, match="is not empty .*--force") as caught:
        write_shapes(tmp_path, task, num_train=1, num_val=1, cfg=CFG)
    assert "\n" not in str(caught.value) and mine.read_text() == "my own annotations"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["annotations.json", "notes.txt",
                                                           "train"]
    write_shapes(tmp_path, task, num_train=1, num_val=1, cfg=CFG, force=True)
    assert notes.read_text() == "keep me"  # --force never deletes what it did not write
    assert (tmp_path / "val/images/00000.png").is_file()


def test_a_full_disk_is_one_line_and_leaves_no_half_written_file(full_disk):
    with pytest.raises(WriteError, match="no space left on device"):
        write_shapes(full_disk / "shapes", "segmentation", num_train=1, num_val=1, cfg=CFG)
    assert not list(full_disk.rglob("*.png")) and not list(full_disk.rglob("*.tmp*"))

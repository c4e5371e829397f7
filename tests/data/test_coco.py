"""COCO files: write/read round trip, checks of bad input, targets served to the detector."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from resnets.data.coco import CocoSet, DetectionDataset, read_coco, write_coco
from resnets.errors import DataError


@pytest.fixture
def two_images(tmp_path):
    for name, size in (("a.png", (40, 30)), ("b.png", (20, 20))):
        Image.fromarray(np.zeros((size[1], size[0], 3), dtype=np.uint8)).save(tmp_path / name)
    images = [{"id": 7, "file_name": "a.png", "width": 40, "height": 30},
              {"id": 9, "file_name": "b.png", "width": 20, "height": 20}]
    annotations = [
        {"id": 1, "image_id": 7, "category_id": 5, "bbox": [2, 3, 10, 4], "area": 40,
         "iscrowd": 0},
        {"id": 2, "image_id": 9, "category_id": 3, "bbox": [0, 0, 20, 20], "area": 400,
         "iscrowd": 0},
        {"id": 3, "image_id": 9, "category_id": 5, "bbox": [5, 5, 2, 2], "area": 4,
         "iscrowd": 1}]
    categories = [{"id": 5, "name": "dog"}, {"id": 3, "name": "cat"}]
    return tmp_path, CocoSet(images, annotations, categories)


def test_round_trip(two_images):
    folder, coco = two_images
    path = write_coco(coco, folder / "ann.json")
    back = read_coco(path, folder)
    assert back.to_dict() == json.loads(json.dumps(coco.to_dict()))
    assert back.category_ids == [3, 5] and back.class_names == ["cat", "dog"]
    assert not list(folder.glob(".ann.json.*"))  # no temporary file left behind


def test_targets_are_xyxy_boxes_with_contiguous_labels(two_images):
    folder, coco = two_images
    dataset = DetectionDataset(read_coco(write_coco(coco, folder / "a.json"), folder), folder)
    image, target = dataset[0]
    assert image.shape == (3, 30, 40) and image.dtype == torch.float32
    assert target["boxes"].tolist() == [[2, 3, 12, 7]] and target["labels"].tolist() == [2]
    _, target = dataset[1]  # the crowd annotation is left out
    assert target["boxes"].tolist() == [[0, 0, 20, 20]] and target["labels"].tolist() == [1]


def test_horizontal_flip_mirrors_the_boxes(two_images):
    folder, coco = two_images
    dataset = DetectionDataset(read_coco(write_coco(coco, folder / "a.json"), folder), folder,
                               hflip=True)
    seen = set()
    torch.manual_seed(0)
    for _ in range(20):
        seen.add(tuple(dataset[0][1]["boxes"][0].tolist()))
    assert seen == {(2, 3, 12, 7), (28, 3, 38, 7)}  # 40 - 12 = 28, 40 - 2 = 38


def _broken(coco, **changes):
    ann = {**coco.annotations[0], **changes}
    return CocoSet(coco.images, [ann, *coco.annotations[1:]], coco.categories)


@pytest.mark.parametrize("changes,message,reason", [
    ({"bbox": [35, 3, 10, 4]}, "outside its 40x30 image 'a.png'", "box outside the image"),
    ({"bbox": [2, 3, 0, 4]}, "box of size 0.0x4.0", "non-positive box size"),
    ({"category_id": 4}, "category_id 4, not one of the declared", "unknown category"),
])
def test_bad_annotations_fail_or_are_skipped(two_images, changes, message, reason):
    folder, coco = two_images
    path = write_coco(_broken(coco, **changes), folder / "bad.json")
    with pytest.raises(DataError, match=message) as err:
        read_coco(path, folder)
    assert "bad.json" in str(err.value) and "--skip-bad" in str(err.value)
    kept = read_coco(path, folder, skip_bad=True)
    assert kept.skipped == {reason: 1} and len(kept.annotations) == 2


def test_missing_image_fails_or_is_skipped_with_its_annotations(two_images):
    folder, coco = two_images
    path = write_coco(coco, folder / "ann.json")
    (folder / "b.png").unlink()
    with pytest.raises(DataError, match="image 'b.png' .* is not in"):
        read_coco(path, folder)
    kept = read_coco(path, folder, skip_bad=True)
    assert [im["file_name"] for im in kept.images] == ["a.png"]
    assert kept.skipped == {"missing image": 1, "annotation of a missing image": 2}


def test_structural_problems_are_errors(two_images, tmp_path):
    folder, coco = two_images
    wrong_size = CocoSet([{**coco.images[0], "width": 41}], [], coco.categories)
    with pytest.raises(DataError, match="40x30 on disk but 41x30"):
        read_coco(write_coco(wrong_size, folder / "w.json"), folder)
    orphan = _broken(coco, image_id=99)
    with pytest.raises(DataError, match="image id that is not in 'images'"):
        read_coco(write_coco(orphan, folder / "o.json"), folder)
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_coco(tmp_path / "x.json", folder)
    with pytest.raises(DataError, match="does not exist"):
        read_coco(tmp_path / "nothing.json", folder)


@pytest.mark.parametrize("file_name", ["../a.png", "images/../../a.png", "ABSOLUTE"])
def test_file_names_that_leave_the_image_folder_are_refused(two_images, file_name):
    folder, coco = two_images  # every name below reaches the real file folder/a.png
    images = folder / "images"
    images.mkdir()
    Image.open(folder / "a.png").save(images / "a.png")
    (images / "images").mkdir()
    (images / "link.png").symlink_to(folder / "a.png")  # a link that points out
    if file_name == "ABSOLUTE":
        file_name = str(folder / "a.png")
    escaping = CocoSet([{**coco.images[0], "file_name": file_name}], [], coco.categories)
    path = write_coco(escaping, folder / "e.json")
    for skip_bad in (False, True):
        with pytest.raises(DataError, match="leaves the image folder"):
            read_coco(path, images, skip_bad)
    inside = CocoSet([{**coco.images[0], "file_name": "a.png"}], [], coco.categories)
    assert len(read_coco(write_coco(inside, folder / "i.json"), images).images) == 1
    # A link inside the folder is the user's own layout (shared storage): it is read.
    linked = CocoSet([{**coco.images[0], "file_name": "link.png"}], [], coco.categories)
    assert len(read_coco(write_coco(linked, folder / "l.json"), images).images) == 1


@pytest.mark.parametrize("changes,message", [
    ({"bbox": [2, 3, float("nan"), 4]}, "four finite numbers"),
    ({"bbox": [2, float("inf"), 10, 4]}, "four finite numbers"),
    ({"bbox": [2, 3, True, 4]}, "four finite numbers"),
    ({"bbox": [2, 3, "10", 4]}, "four finite numbers"),
    ({"iscrowd": 0.5}, "iscrowd 0.5; iscrowd is the integer 0"),
    ({"iscrowd": "1"}, "iscrowd '1'"),
    ({"iscrowd": 2}, "iscrowd 2"),
    ({"area": float("nan")}, "area nan"),
])
def test_non_numbers_in_annotations_are_one_line_errors(two_images, changes, message):
    folder, coco = two_images
    path = write_coco(_broken(coco, **changes), folder / "bad.json")  # JSON NaN/Infinity
    for skip_bad in (False, True):
        with pytest.raises(DataError, match=message) as err:
            read_coco(path, folder, skip_bad)
        assert "\n" not in str(err.value) and "bad.json" in str(err.value)


@pytest.mark.parametrize("kind", ["empty", "junk", "truncated", "bomb", "huge"])
def test_unreadable_images_fail_in_one_line_or_are_skipped(two_images, bad_images, kind):
    folder, coco = two_images
    (folder / "b.png").write_bytes(bad_images[kind])
    path = write_coco(coco, folder / "ann.json")
    with pytest.raises(DataError) as err:
        read_coco(path, folder)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"cannot read image {folder / 'b.png'}")
    assert "1 of 2 images" in message and "--skip-bad" in message
    kept = read_coco(path, folder, skip_bad=True)
    assert [im["file_name"] for im in kept.images] == ["a.png"]
    assert kept.skipped == {"unreadable image": 1, "annotation of a missing image": 2}

"""The pre-training image check: each kind of bad file is found, good files pass, fast."""

import time
import warnings

import numpy as np
import pytest
from PIL import Image

from resnets.data.imagecheck import check_image, check_images, refuse_bad_images
from resnets.errors import DataError


def _good(folder, count=3):
    paths = []
    for index in range(count):
        pixels = np.random.default_rng(index).integers(0, 256, (20, 30, 3), dtype=np.uint8)
        path = folder / f"good{index}.{('png', 'jpg', 'bmp')[index % 3]}"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def test_every_kind_of_bad_file_is_found_and_good_ones_pass(tmp_path, bad_images):
    good = _good(tmp_path)
    bad = {}
    for kind, data in bad_images.items():
        bad[kind] = tmp_path / f"{kind}.png"
        bad[kind].write_bytes(data)
    cut = tmp_path / "cut.jpg"  # a JPEG missing its tail: only a decode notices
    cut.write_bytes(good[1].read_bytes()[:-200])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may escape
        statuses = check_images([*good, *bad.values(), cut])
    assert [s.ok for s in statuses] == [True] * 3 + [False] * (len(bad) + 1)
    assert all(s.size == (30, 20) for s in statuses[:3])
    problems = dict(zip([*bad, "cut"], [s.problem for s in statuses[3:]]))
    assert problems["empty"] == "empty file (0 bytes)"
    assert "12000x12000 pixels, over the limit" in problems["bomb"]
    assert "decompression bomb" in problems["huge"]
    assert "truncated" in problems["truncated"] and "truncated" in problems["cut"]


def test_the_limit_holds_when_pil_s_own_limit_is_off(tmp_path, bad_images, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = tmp_path / "huge.png"
    path.write_bytes(bad_images["huge"])
    assert "30000x30000 pixels" in check_image(path).problem


def test_refusal_is_one_line_with_the_first_file_the_count_and_the_flag(tmp_path, bad_images):
    paths = [*_good(tmp_path, 2), tmp_path / "a.png", tmp_path / "b.png"]
    paths[2].write_bytes(bad_images["junk"])
    paths[3].write_bytes(bad_images["empty"])
    statuses = check_images(paths, threads=1)
    with pytest.raises(DataError) as caught:
        refuse_bad_images(paths, statuses, "the set", "--skip-bad")
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"cannot read image {paths[2]} (")
    assert "2 of 4 images in the set are unreadable" in message and "--skip-bad" in message
    refuse_bad_images(paths[:2], statuses[:2], "the set", "--skip-bad")  # all good: silent


def test_a_thousand_small_images_are_checked_in_well_under_a_few_seconds(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    Image.fromarray(pixels).save(tmp_path / "a.jpg")
    paths = [tmp_path / ("a.png", "a.jpg")[i % 2] for i in range(1000)]
    start = time.perf_counter()
    statuses = check_images(paths)
    assert all(s.ok for s in statuses) and time.perf_counter() - start < 3

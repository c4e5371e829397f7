"""torchvision's and ResNet strikes back's ResNet-50 recipes: listed, shown, resolved, and
run for two steps on a tiny image folder with every knob they set wired in."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from resnets.cli import main
from resnets.train.checkpoint import CheckpointManager
from resnets.train.config import from_dict, to_dict
from resnets.train.context import StopAfterStep
from resnets.train.engine import train
from resnets.train.modern_recipes import modern_recipes
from resnets.train.pipeline import build_pipeline
from resnets.train.recipes import recipe_config

NAMES = [name for name, *_ in modern_recipes()]
POLICY_OF = {"trivialaugment": v2.TrivialAugmentWide, "randaugment": v2.RandAugment}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """train/ and val/ with two classes of small PNGs (8 training images each)."""
    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("val", 2)):
        for c, name in enumerate(("n01", "n02")):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 90, (20, 24, 3), dtype=np.uint8) + 100 * c
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    return root


def tiny(name, root, out, **extra):
    """Recipe ``name`` on the tiny folder: 16 px, ResNet-20, batch 8, CPU."""
    return recipe_config(name, {
        "data.root": str(root), "data.image_size": 16, "data.eval_size": 16,
        "data.eval_resize": 18, "data.workers": 0, "model.name": "resnet20", "batch_size": 8,
        "eval_batch_size": 8, "device": "cpu", "deterministic": True, "out_dir": str(out),
        **extra})


def test_every_modern_recipe_is_listed_and_shown_as_the_config_it_resolves_to(capsys):
    assert main(["recipes"]) == 0
    listed = capsys.readouterr().out
    for name in NAMES:
        assert f"\n{name} " in listed and "published" in listed.split(f"\n{name} ")[1]
        assert main(["recipes", "--show", name]) == 0
        shown = capsys.readouterr().out
        assert shown.startswith(f"# {name}: ")
        resolved = recipe_config(name)
        assert json.loads(shown.split("\n", 2)[2]) == to_dict(resolved)
        assert from_dict(to_dict(resolved)) == resolved and resolved.data.dataset == "folder"


def test_the_recipes_differ_where_the_papers_do():
    tv, a1, a2, a3 = (recipe_config(name) for name in NAMES)
    assert (tv.data.image_size, tv.data.eval_size, tv.data.eval_resize) == (176, 224, 232)
    assert (tv.optim.name, tv.optim.loss, tv.data.repeated_aug) == ("sgd", "ce", 4)
    assert [r.epochs for r in (a1, a2, a3)] == [600, 300, 100]
    assert {r.optim.name for r in (a1, a2, a3)} == {"lamb"} and a3.optim.lr == 8e-3
    assert (a3.data.image_size, a3.data.repeated_aug, a3.model.drop_path_rate) == (160, 1, 0.0)


@pytest.mark.parametrize("name", NAMES)
def test_the_folder_pipeline_carries_the_recipe_s_augmentation_and_sizes(folder, name,
                                                                           tmp_path):
    cfg = recipe_config(name, {"data.root": str(folder), "data.workers": 0,
                               "batch_size": 8, "out_dir": str(tmp_path)})
    pipe = build_pipeline(cfg, torch.device("cpu"))
    train_steps = pipe.train.dataset.transform.transforms
    crop = next(t for t in train_steps if isinstance(t, v2.RandomResizedCrop))
    assert crop.size == (cfg.data.image_size,) * 2
    assert any(isinstance(t, POLICY_OF[cfg.data.policy]) for t in train_steps)
    erasing = [t for t in train_steps if isinstance(t, v2.RandomErasing)]
    assert [t.p for t in erasing] == ([cfg.data.erasing] if cfg.data.erasing else [])
    assert pipe.train.repeats == cfg.data.repeated_aug
    eval_steps = pipe.test.dataset.transform.transforms
    resize = next(t for t in eval_steps if isinstance(t, v2.Resize))
    centre = next(t for t in eval_steps if isinstance(t, v2.CenterCrop))
    assert resize.size == [cfg.data.eval_resize] and centre.size == (cfg.data.eval_size,) * 2
    images, _ = next(iter(pipe.test))
    assert images.shape[-2:] == (cfg.data.eval_size,) * 2 == (pipe.image_size,) * 2


@pytest.mark.parametrize("name", NAMES)
def test_each_recipe_trains_two_steps_on_a_tiny_folder(folder, name, tmp_path):
    summary = train(tiny(name, folder, tmp_path, iterations=2, run_name="r"))
    assert summary["steps"] == 2 and summary["recipe"] == name
    assert 0 <= summary["test_error"] <= 1
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["data"]["policy"] == recipe_config(name).data.policy


def test_a_folder_run_with_the_torchvision_recipe_resumes_bitwise_identical(folder, tmp_path):
    # Per-image seeds of (epoch, sample, copy) make the crops and the policy's draws of the
    # resumed epoch those of the uninterrupted run.
    straight = tiny("imagenet-resnet50-torchvision", folder, tmp_path, epochs=2,
                    run_name="straight")
    train(straight)
    broken = tiny("imagenet-resnet50-torchvision", folder, tmp_path, epochs=2,
                  run_name="broken")
    with pytest.raises(SystemExit):
        train(broken, hooks=[StopAfterStep(3)])  # mid-epoch: epoch 2 is steps 3 and 4
    train(broken, resume_dir=tmp_path / "broken")
    a, b = (CheckpointManager(tmp_path / run).load_latest()["model"]
            for run in ("straight", "broken"))
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_folder_batches_do_not_depend_on_the_number_of_workers(folder):
    batches = []
    for workers in (0, 2):
        cfg = recipe_config("imagenet-resnet50-rsb-a1", {
            "data.root": str(folder), "data.image_size": 16, "data.workers": workers,
            "batch_size": 8})
        pipe = build_pipeline(cfg, torch.device("cpu"))
        pipe.train.set_epoch(1)
        batches.append([x for x, _ in pipe.train])
    assert all(torch.equal(x0, x2) for x0, x2 in zip(*batches, strict=True))


def test_ten_crop_evaluation_uses_the_run_s_evaluation_sizes(folder, tmp_path, monkeypatch):
    from resnets import data
    from resnets.train.inference import evaluate_checkpoint

    train(tiny("imagenet-resnet50-torchvision", folder, tmp_path, iterations=1, run_name="t",
               **{"data.image_size": 12}))
    asked = []
    real = data.imagenet_eval_transform

    def spy(size, resize=None, ten_crop=False, **kw):
        asked.append((size, resize, ten_crop))
        return real(size, resize, ten_crop, **kw)

    monkeypatch.setattr(data, "imagenet_eval_transform", spy)
    evaluate_checkpoint(tmp_path / "t", ten_crop=True, out_dir=str(tmp_path / "report"))
    assert asked == [(16, 18, True)]  # not the training crop of 12

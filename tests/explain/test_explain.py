"""Grad-CAM and Grad-CAM++: the maps follow their definitions, point at the object for a
trained model and not for a randomised one (Adebayo et al. 2018), and `resnets explain`
writes them for runs and registry models, refusing bad input in one line first."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from resnets.cli import main
from resnets.explain.cam import class_maps, rank_correlation, resolve_stage, upsample
from resnets.explain.localization import box_hits, fit, one_shape_scenes
from resnets.models import create_model
from resnets.models.attention import Cbam
from resnets.train.engine import train
from resnets.train.inference import load_trained
from resnets.train.recipes import recipe_config


def test_gradcam_is_the_gradient_weighted_sum_of_the_channels():
    model = create_model("resnet20", num_classes=4).eval()
    x = torch.randn(2, 3, 16, 16)
    maps = class_maps(model, x, stage=2, classes=torch.tensor([1, 3]))
    fmap = model.forward_intermediates(x, indices=[2], intermediates_only=True)[0]
    fmap.retain_grad()
    logits = model.forward_head(model.forward_features(x))  # the same net, recomputed
    feats, (again,) = model.forward_intermediates(x, indices=[2])
    score = model.forward_head(feats)[[0, 1], [1, 3]].sum()
    (grads,) = torch.autograd.grad(score, again)
    expected = torch.relu((grads.mean(dim=(2, 3), keepdim=True) * again).sum(1)).detach()
    torch.testing.assert_close(maps.gradcam, expected)
    torch.testing.assert_close(maps.logits, logits.detach())
    assert maps.gradcam.shape == maps.gradcampp.shape == (2, 8, 8)
    assert (maps.gradcampp >= 0).all() and maps.gradcampp.sum() > 0


@pytest.mark.parametrize("name", ["preact_resnet18", "densenet121", "botnet26"])
def test_maps_of_any_registry_model_at_any_stage(name):
    model = create_model(name, num_classes=3)
    x = torch.randn(1, 3, 64, 64)
    for stage in (1, -1):
        index = resolve_stage(model, stage)
        maps = class_maps(model, x, index)
        side = 64 // model.feature_info[index]["reduction"]
        assert maps.gradcam.shape == (1, side, side) and torch.isfinite(maps.gradcampp).all()
    assert resolve_stage(model, model.feature_info[2]["module"]) == 2


def coloured_squares(count: int, seed: int, side: int = 32):
    """Noisy grey images with one red, green or blue square; the class is its colour."""
    gen = torch.Generator().manual_seed(seed)
    images = 0.5 + 0.1 * torch.randn(count, 3, side, side, generator=gen)
    labels = torch.randint(0, 3, (count,), generator=gen)
    boxes = []
    for image, label in zip(images, labels):
        size = int(torch.randint(6, 11, (1,), generator=gen))
        x0, y0 = (int(v) for v in torch.randint(0, side - size + 1, (2,), generator=gen))
        image[:, y0:y0 + size, x0:x0 + size] = 0.1
        image[label, y0:y0 + size, x0:x0 + size] = 0.9
        boxes.append((x0, y0, x0 + size, y0 + size))
    return (images - 0.5) / 0.25, labels, torch.tensor(boxes)


@pytest.fixture(scope="module")
def trained():
    """A depth-8 CIFAR ResNet that learnt the squares' colours (a few seconds)."""
    torch.manual_seed(0)
    images, labels, _ = coloured_squares(384, seed=1)
    return fit(create_model("cifar_resnet", depth=8, num_classes=3), images, labels, epochs=3,
               seed=0)


def test_trained_maps_find_the_object_and_randomised_ones_differ(trained):
    images, labels, boxes = coloured_squares(100, seed=2)
    hits = box_hits(trained, images, labels, boxes, stage=-1)
    torch.manual_seed(1)
    randomised = create_model("cifar_resnet", depth=8, num_classes=3).eval()
    chance = box_hits(randomised, images, labels, boxes, stage=-1)
    assert hits["accuracy"] > 0.9
    assert hits["gradcam"] >= 0.8 and hits["gradcam"] > chance["gradcam"] + 0.3
    # the sanity check proper: the maps of the randomised net are not the trained one's
    ours = class_maps(trained, images[:20], -1, classes=labels[:20]).gradcam
    theirs = class_maps(randomised, images[:20], -1, classes=labels[:20]).gradcam
    correlations = [rank_correlation(a, b) for a, b in zip(upsample(ours, (32, 32)),
                                                          upsample(theirs, (32, 32)))]
    assert float(np.median(correlations)) < 0.5
    # the measure sees a map as equal to any increasing function of it
    assert min(rank_correlation(a, 2 * a + a.pow(2)) for a in ours) > 0.999


def test_one_shape_scenes_are_labelled_with_their_box():
    images, labels, boxes = one_shape_scenes(5, 48, seed=3)
    assert images.shape == (5, 3, 48, 48) and set(labels.tolist()) <= {0, 1, 2}
    x0, y0, x1, y1 = boxes.unbind(1)
    assert ((x1 - x0 >= 15) & (y1 - y0 >= 15) & (x1 <= 48) & (y1 <= 48)).all()
    inside = images[0][:, y0[0]:y1[0], x0[0]:x1[0]]
    assert inside.std() > 0  # the shape and its background differ


def png(path, size=32, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)
    return str(path)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cfg = recipe_config("synthetic-smoke", {"data.synthetic_size": "48", "batch_size": "16",
                                            "epochs": "1", "device": "cpu",
                                            "out_dir": str(out), "run_name": "r",
                                            "model.attn_layer": "cbam"})
    train(cfg)
    return out / "r"


def test_explain_a_run_writes_overlays_and_raw_maps(run, tmp_path, capsys):
    image = png(tmp_path / "in.png")
    out = tmp_path / "maps"
    assert main(["explain", "--checkpoint", str(run), image, "--top-k", "2", "--out",
                 str(out), "--stage", "-2"]) == 0
    pngs, npys = sorted(out.glob("*.png")), sorted(out.glob("*.npy"))
    assert len(pngs) == len(npys) == 4  # 2 classes x 2 methods
    assert {p.name.split("_")[1] for p in pngs} == {"1", "2"}
    raw = np.load(npys[0])
    assert raw.dtype == np.float32 and raw.ndim == 2 and (raw >= 0).all()
    with Image.open(pngs[0]) as im:
        assert im.mode == "RGB" and im.size[0] == im.size[1]
    assert "4 maps of run" in capsys.readouterr().out
    model = load_trained(run)[0]  # model.attn_layer reached the model and its checkpoint
    assert any(isinstance(m, Cbam) for m in model.modules())


def test_explain_a_registry_model_with_a_chosen_class(tmp_path, capsys):
    image = png(tmp_path / "in.png", 40)
    assert main(["explain", "--model", "resnet20", "--weights", "none", image, "--class",
                 "7", "--method", "gradcam", "--out", str(tmp_path / "o")]) == 0
    (written,) = (tmp_path / "o").glob("*.png")
    assert written.name == "in_1_7_gradcam.png"


def test_explain_published_weights_with_their_transform_and_class_names(tmp_path, capsys,
                                                                       monkeypatch):
    import resnets.models.registry as registry

    state = create_model("resnet18").state_dict()
    monkeypatch.setattr(registry, "fetch_state_dict", lambda *_: state)  # no download
    image = png(tmp_path / "cat.png", 300)
    assert main(["explain", "--model", "resnet18", "--weights", "imagenet", image,
                 "--class", "tabby", "--stage", "layer3", "--out", str(tmp_path / "o")]) == 0
    raw = np.load(tmp_path / "o" / "cat_1_tabby_gradcam.npy")
    assert raw.shape == (14, 14)  # layer3 of a 224 x 224 centre crop
    with Image.open(tmp_path / "o" / "cat_1_tabby_gradcampp.png") as im:
        assert im.size == (224, 224)
    assert "#1 tabby" in capsys.readouterr().out


@pytest.mark.parametrize("argv,fragment", [
    (["missing.png"], "image 'missing.png' does not exist"),
    (["IMG", "--stage", "layer9"], "unknown stage 'layer9'"),
    (["IMG", "--stage", "7"], "unknown stage '7'"),
    (["IMG", "--class", "10"], "--class '10' is out of range"),
    (["IMG", "--class", "3", "--top-k", "2"], "--class or --top-k"),
    (["IMG", "--top-k", "11"], "--top-k 11 is more than"),
])
def test_bad_input_is_refused_in_one_line(argv, fragment, tmp_path, capsys, monkeypatch):
    import resnets.explain.cli as cli

    monkeypatch.setattr(cli, "class_maps", None)  # no map may be computed
    argv = [png(tmp_path / "in.png") if a == "IMG" else a for a in argv]
    code = main(["explain", "--model", "resnet20", "--weights", "none", *argv, "--out",
                 str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and fragment in err, err
    assert not list((tmp_path / "o").glob("*.png")) if (tmp_path / "o").exists() else True

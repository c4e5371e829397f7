"""`resnets embed` and `resnets probe`: features equal the model's, files round-trip, probes."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from resnets import data as D
from resnets.cli import main
from resnets.errors import ResnetsError
from resnets.models import create_model
from resnets.train.inference import load_trained, preprocess
from resnets.transfer.embed import load_embeddings, save_embeddings
from resnets.transfer.probe import linear_probe
from resnets.weights import load_weights, save_weights

COMMON = ["--workers", "0", "--device", "cpu", "--batch-size", "3"]


def pooled(model, x):
    with torch.no_grad():
        return model.eval().forward_head(model.forward_features(x), pre_logits=True).numpy()


def test_embed_a_folder_with_registry_weights(image_folder, tmp_path, capsys):
    root = image_folder() / "train"
    weights = save_weights(create_model("resnet20"), tmp_path / "r20.safetensors")
    out = tmp_path / "feats.npz"
    assert main(["embed", str(root), "--out", str(out), "--model", "resnet20", "--weights",
                 str(weights), "--image-size", "16", *COMMON]) == 0
    assert "8 images x 64 features" in capsys.readouterr().out
    features, names = load_embeddings(out)
    assert names == [f"{c}/{i}.png" for c in ("blue", "red") for i in range(4)]
    assert features.dtype == np.float32 and features.shape == (8, 64)
    reference = create_model("resnet20")
    load_weights(reference, weights)
    crop = D.imagenet_eval_transform(16)
    x = torch.stack([crop(D.decode_image(root / name)) for name in names])
    np.testing.assert_allclose(features, pooled(reference, x), rtol=1e-5, atol=1e-6)


def test_embed_a_folder_with_a_run_to_safetensors(image_folder, train_run, tmp_path):
    root = image_folder()
    assert train_run(root, "run") == 0
    out = tmp_path / "feats.safetensors"
    assert main(["embed", str(root / "val"), "--out", str(out), "--checkpoint",
                 str(tmp_path / "run"), *COMMON]) == 0
    features, names = load_embeddings(out)
    model, state, cfg = load_trained(tmp_path / "run", torch.device("cpu"))
    x = torch.cat([preprocess(root / "val" / name, state, cfg) for name in names])
    assert names == ["blue/0.png", "blue/1.png", "red/0.png", "red/1.png"]
    np.testing.assert_allclose(features, pooled(model, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_embedding_files_round_trip(tmp_path, suffix):
    features = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    names = ["a.png", "sub/b.jpg", "ünïcode.png"]
    path = save_embeddings(tmp_path / f"e{suffix}", features, names, source="test")
    loaded, loaded_names = load_embeddings(path)
    assert loaded.dtype == np.float32 and loaded_names == names
    np.testing.assert_array_equal(loaded, features.astype(np.float32))
    assert [p.name for p in tmp_path.iterdir()] == [f"e{suffix}"]  # no temporary files left


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_a_damaged_embedding_file_is_one_line(tmp_path, suffix):
    path = tmp_path / f"e{suffix}"
    path.write_bytes(b"PK\x03\x04" + bytes(200) if suffix == ".npz" else b"\xff" * 64)
    with pytest.raises(ResnetsError, match="cannot be read .*write it again with"):
        load_embeddings(path)
    save_embeddings(path, np.zeros((3, 2)), ["a", "b", "c"], source="test")
    if suffix == ".npz":
        np.savez(path, features=np.zeros((3, 2)), names=np.array(["a", "b"]))
    else:
        from safetensors.numpy import save_file

        save_file({"features": np.zeros((3, 2), np.float32)}, str(path),
                  metadata={"names": '["a", "b"]'})
    with pytest.raises(ResnetsError, match="does not hold one name per row"):
        load_embeddings(path)


def test_linear_probe_known_answer():
    # One feature: the classes split at 0; the validation point at -0.5 is on the wrong side.
    train = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    val = np.array([[-3.0], [3.0], [0.5], [-0.5]])
    report = linear_probe(train, [0, 0, 1, 1], val, [0, 1, 1, 1], c=10.0)
    assert report["train_top1"] == 1.0 and report["val_top1"] == 0.75
    assert (report["train_images"], report["val_images"], report["features"]) == (4, 4, 1)


def test_probe_separates_colours_end_to_end(image_folder, tmp_path, capsys):
    root = image_folder(("red", "green", "blue"), counts={"train": 4, "val": 3})
    torch.manual_seed(0)
    report_path = tmp_path / "probe.json"
    assert main(["probe", str(root), "--model", "resnet20", "--weights", "none",
                 "--image-size", "16", "--out", str(report_path), *COMMON]) == 0
    out = capsys.readouterr().out
    report = json.loads(report_path.read_text())
    assert report["classes"] == ["blue", "green", "red"]
    assert (report["train_images"], report["val_images"], report["features"]) == (12, 9, 64)
    assert report["val_top1"] == 1.0  # pure colours: even random features separate them
    assert "val top-1 100.00%" in out and "12 train / 9 val images" in out


@pytest.mark.parametrize("argv,words", [
    (["embed", "{root}", "--out", "{tmp}/f.txt", "--model", "resnet20"], ".npz or .safetensors"),
    (["embed", "{tmp}/nowhere", "--out", "{tmp}/f.npz", "--model", "resnet20", "--weights",
      "none"], "not found"),
    (["embed", "{root}", "--out", "{tmp}/f.npz", "--model", "resnet20"],
     "resnet20 has no published ImageNet weights"),
    (["embed", "{root}", "--out", "{tmp}/f.npz", "--model", "resnet18", "--weights",
      "{tmp}/missing.pt"], "neither 'imagenet' nor an existing"),
    (["embed", "{root}", "--out", "{tmp}/f.npz", "--checkpoint", "{tmp}/no-run"],
     "does not exist"),
    (["embed", "{root}", "--out", "{tmp}/f.npz", "--model", "resnet20", "--weights", "none",
      "--batch-size", "0"],
     r"argument --batch-size: must be an integer in \[1, 4096\], got '0'"),
    (["probe", "{root}/train", "--model", "resnet20", "--weights", "none"],
     "image folder .*train/train not found"),
    (["embed", "{tmp}/nowhere", "--out", "{tmp}/f.npz", "--model", "res8", "--weights",
      "none"], "--model='res8' is an audio model; a feature extractor of images needs an image "
     "model"),
    (["probe", "{tmp}/nowhere", "--model", "vdcnn9", "--weights", "none"],
     "--model='vdcnn9' is a text model; a feature extractor of images needs an image model"),
    (["probe", "{root}", "--model", "resnet20", "--weights", "none", "--c", "0"],
     r"argument --c: must be a finite number in \(0, 1e\+06\], got '0'"),
])
def test_bad_input_is_one_line_before_any_work(argv, words, image_folder, tmp_path, capsys):
    root = image_folder()
    argv = [a.format(root=root, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"resnets {argv[0]}: error:")
    assert re.search(words, err), err
    assert not list(tmp_path.glob("f.*"))


def test_one_backbone_source_is_required(capsys):
    assert main(["embed", "x", "--out", "f.npz", "--model", "resnet20", "--checkpoint",
                 "r"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err

"""Saving models as timm keeps them on the Hugging Face Hub, and loading them back offline:
from a folder and from a pre-filled hub cache."""

import json
from pathlib import Path

import huggingface_hub
import pytest
import torch
from huggingface_hub import constants

import resnets
from resnets.errors import ResnetsError

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def saved(tmp_path, **options):
    torch.manual_seed(0)
    model = resnets.create_model("resnet20", **options).eval()
    return model, resnets.save_pretrained(model, tmp_path / "saved")


def test_a_saved_folder_loads_back_with_its_options_and_weights(tmp_path):
    model, folder = saved(tmp_path, num_classes=7, drop_rate=0.1)
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "resnet20"
    assert config["options"] == {"num_classes": 7, "drop_rate": 0.1}
    again = resnets.create_model(f"local-dir:{folder}").eval()
    x = torch.randn(2, 3, 32, 32)
    assert again.fc.out_features == 7 and again.drop_rate == 0.1
    assert torch.equal(again(x), model(x))


def fill_cache(cache, repo_id, folder):
    """The layout huggingface_hub's cache has: refs/main naming a snapshot of the files."""
    root = cache / f"models--{repo_id.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(COMMIT)
    snapshot = root / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (snapshot / name).write_bytes((folder / name).read_bytes())


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def test_hf_hub_loads_from_the_cache_offline(tmp_path, offline_cache):
    model, folder = saved(tmp_path)
    fill_cache(offline_cache, "someone/resnet20-digits", folder)
    again = resnets.create_model("hf-hub:someone/resnet20-digits").eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(again(x), model(x))


def test_hf_hub_offline_without_the_files_is_one_line(offline_cache):
    with pytest.raises(ResnetsError) as err:
        resnets.create_model("hf-hub:someone/missing")
    assert "cannot get config.json and model.safetensors" in str(err.value)
    assert "HF_HUB_OFFLINE=1" in str(err.value) and "\n" not in str(err.value)


def test_push_to_hub_uploads_the_saved_folder(tmp_path, monkeypatch):
    uploads = []

    class FakeApi:
        def create_repo(self, repo_id, private=False, exist_ok=False):
            uploads.append(("repo", repo_id, private))

        def upload_folder(self, repo_id, folder_path, commit_message):
            files = sorted(p.name for p in Path(folder_path).iterdir())
            uploads.append(("files", repo_id, files))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    resnets.push_to_hub(resnets.create_model("resnet20"), "me/r20", private=True)
    assert uploads == [("repo", "me/r20", True),
                       ("files", "me/r20", ["config.json", "model.safetensors"])]


def test_published_weights_carry_their_input_configuration(tmp_path):
    model = resnets.create_model("resnet18")
    model.pretrained_cfg["tag"] = "v1"  # as create_model(pretrained=True) records it
    folder = resnets.save_pretrained(model, tmp_path / "r18")
    pretrained = json.loads((folder / "config.json").read_text())["pretrained"]
    assert pretrained["resize"] == 256 and pretrained["input_size"] == [3, 224, 224]
    assert len(pretrained["classes"]) == 1000 and pretrained["top1"] == 69.758
    again = resnets.create_model(f"local-dir:{folder}")
    assert resnets.resolve_data_config(again)["resize"] == 256


@pytest.mark.parametrize("spec, fragment", [
    ("local-dir:", "name a repository (hf-hub:ORG/NAME) or a folder"),
    ("local-dir:/nonexistent/x", "holds no config.json"),
])
def test_bad_names_are_one_line(spec, fragment):
    with pytest.raises(ResnetsError) as err:
        resnets.create_model(spec)
    assert fragment in str(err.value)


def test_a_model_with_a_callable_option_cannot_be_saved(tmp_path):
    model = resnets.create_model("resnet20", norm_layer=torch.nn.BatchNorm2d)
    with pytest.raises(ResnetsError, match="options that a config.json cannot hold"):
        resnets.save_pretrained(model, tmp_path / "x")
    assert not (tmp_path / "x").exists()

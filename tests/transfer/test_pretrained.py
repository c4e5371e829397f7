"""Published weights: the table, torch.hub's download-and-cache, hashes, name mapping."""

from __future__ import annotations

import re

import pytest
import timm
import torch
import torchvision

from resnets.errors import CheckpointError, ResnetsError
from resnets.models import create_model, list_models
from resnets.transfer import (PUBLISHED, adapt_input_conv, cache_dir, load_backbone,
                              models_with_weights, weight_tags)

WITH_WEIGHTS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "wide_resnet101_2",
                "densenet121", "densenet161", "densenet169", "densenet201"]


def test_the_table_equals_torchvision_weight_enums():
    assert sorted(models_with_weights()) == sorted(WITH_WEIGHTS)
    assert set(models_with_weights()) <= set(list_models())
    for (name, tag), entry in PUBLISHED.items():
        enum = torchvision.models.get_model_weights(name)
        published = getattr(enum, f"IMAGENET1K_{tag.upper()}")
        assert entry.url == published.url
        assert entry.top1 == published.meta["_metrics"]["ImageNet-1K"]["acc@1"]
        assert re.fullmatch(r"[0-9a-f]{8}", entry.hash_prefix)
    assert weight_tags("resnet50") == ("v1", "v2") and weight_tags("resnet18") == ("v1",)
    assert weight_tags("resnet20") == ()


def test_download_into_the_cache_then_read_from_it(hub):
    reference = torchvision.models.resnet18().eval()
    served = hub("resnet18", reference.state_dict())
    model = create_model("resnet18", pretrained=True).eval()
    cached = cache_dir() / served.name
    assert cached.is_file() and cached.read_bytes() == served.read_bytes()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
    served.unlink()  # offline from now on: the cached copy is enough
    again = create_model("resnet18", pretrained=True, num_classes=10)
    torch.testing.assert_close(again.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    assert again.fc.out_features == 10


def test_offline_without_the_file_says_what_to_fetch_and_where(hub):
    served = hub("resnet18", torchvision.models.resnet18().state_dict())
    served.unlink()
    with pytest.raises(CheckpointError) as info:
        create_model("resnet18", pretrained=True)
    message = str(info.value)
    assert "\n" not in message
    assert served.name in message and served.as_uri() in message
    assert str(cache_dir()) in message


def test_a_download_with_the_wrong_hash_is_refused_and_not_kept(hub):
    served = hub("resnet18", torchvision.models.resnet18().state_dict(), hash_digits="0badc0de")
    with pytest.raises(CheckpointError, match="does not hash to 0badc0de"):
        create_model("resnet18", pretrained=True)
    assert not (cache_dir() / served.name).exists()


def test_a_wrong_file_in_the_cache_is_refused(hub):
    served = hub("resnet18", torchvision.models.resnet18().state_dict())
    cache_dir().mkdir(parents=True)
    (cache_dir() / served.name).write_bytes(served.read_bytes()[:1000])  # truncated by hand
    with pytest.raises(CheckpointError, match="does not hash to .*delete it"):
        create_model("resnet18", pretrained=True)


@pytest.mark.parametrize("message, shown", [("", "RuntimeError"),
                                            ("\n\x1b[31mPytorchStreamReader failed\x1b[0m\nat",
                                             "PytorchStreamReader failed")])
def test_a_read_failure_with_a_bare_message_is_still_one_line(hub, monkeypatch, message,
                                                              shown):
    hub("resnet18", torchvision.models.resnet18().state_dict())

    def fails(*args, **kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fails)
    with pytest.raises(CheckpointError, match=rf"cannot read .*: {shown}; delete it"):
        create_model("resnet18", pretrained=True)


def test_models_without_weights_and_unknown_tags_are_refused_before_any_work(hub):
    with pytest.raises(ResnetsError, match="resnet20 has no published.*resnet18, resnet34"):
        create_model("resnet20", pretrained=True)
    with pytest.raises(ResnetsError, match="has published weights v1 but not v2"):
        create_model("resnet18", pretrained=True, weights="v2")
    with pytest.raises(ResnetsError, match="unknown weights tag 'v3'"):
        create_model("resnet50", pretrained=True, weights="v3")
    assert not cache_dir().exists()


def legacy_densenet_names(state: dict) -> dict:
    """torchvision's DenseNet files as published: ``norm.1`` for ``norm1``, no counters."""
    out = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        out[re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", key)] = value
    return out


def test_densenet_files_with_the_old_names_load(hub):
    reference = torchvision.models.densenet121().eval()
    legacy = legacy_densenet_names(reference.state_dict())
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    hub("densenet121", legacy)
    model = create_model("densenet121", pretrained=True).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))
    assert int(model.features.norm0.num_batches_tracked) == 0


def test_a_grey_stem_answers_as_the_rgb_stem_to_grey_replicated(hub):
    reference = torchvision.models.resnet18().eval()
    hub("resnet18", reference.state_dict())
    grey = create_model("resnet18", pretrained=True, in_chans=1, num_classes=7).eval()
    assert grey.conv1.weight.shape == (64, 1, 7, 7) and grey.fc.out_features == 7
    x = torch.randn(2, 1, 48, 48)
    with torch.no_grad():
        ours = grey.forward_head(grey.forward_features(x), pre_logits=True)
        theirs = torch.flatten(reference.avgpool(_tv_features(reference, x.repeat(1, 3, 1, 1))),
                               1)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def _tv_features(net, x):
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


def test_adapted_stems_keep_the_response_to_a_constant_image():
    weight = torch.randn(8, 3, 3, 3)
    for in_chans in (1, 6):
        adapted = adapt_input_conv(weight, in_chans)
        assert adapted.shape == (8, in_chans, 3, 3)
        torch.testing.assert_close(adapted.sum(dim=(1, 2, 3)), weight.sum(dim=(1, 2, 3)))
    torch.testing.assert_close(adapt_input_conv(weight, 6)[:, 3:], weight / 2)


@pytest.mark.parametrize("name", ["resnet18", "densenet121"])
def test_timm_state_dicts_load_and_agree(name):
    theirs = timm.create_model(name, pretrained=False).eval()
    ours = create_model(name, num_classes=5)
    wrapped = {f"model.{k}": v for k, v in theirs.state_dict().items()}  # a trainer's wrapper
    done = load_backbone(ours, wrapped, source="timm")
    assert done == {"head_loaded": False, "stem_adapted": False}
    ours.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours.forward_head(ours.forward_features(x), pre_logits=True),
                                   theirs.forward_head(theirs.forward_features(x),
                                                       pre_logits=True))
    full = create_model(name).eval()
    assert load_backbone(full, theirs.state_dict())["head_loaded"]
    with torch.no_grad():
        torch.testing.assert_close(full(x), theirs(x))


def test_a_state_dict_of_another_architecture_is_refused_in_one_line():
    state = torchvision.models.resnet34().state_dict()
    with pytest.raises(CheckpointError,
                       match="do not fit ResNet.*unexpected keys: layer1.2") as info:
        load_backbone(create_model("resnet18"), state, source="resnet34 weights")
    assert "\n" not in str(info.value)


def test_the_cache_follows_torch_home(hub, tmp_path):
    assert cache_dir() == tmp_path / "torch_home" / "hub" / "checkpoints"


class Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def test_a_published_file_with_pickled_code_never_gets_torchs_advice(hub, capsys):
    hub("resnet18", {"fc.weight": Payload()})
    with pytest.raises(CheckpointError) as info:
        create_model("resnet18", pretrained=True)
    message = str(info.value)
    assert "can load safely" in message and "delete it and download it again" in message
    assert "weights_only" not in message and "\n" not in message
    assert "code ran" not in capsys.readouterr().out


def test_the_old_module_names_are_the_moved_modules(hub):
    """The table and the mapping live in resnets.models, fine-tuning in resnets.train; the
    old module names are the same objects, so a patch through an old name still works."""
    import resnets.models.mapping
    import resnets.models.pretrained
    import resnets.train.finetune
    from resnets.transfer import mapping as old_mapping
    from resnets.transfer.pretrained import TORCHVISION_MODELS

    import resnets.transfer.finetune as old_finetune
    import resnets.transfer.pretrained as old_pretrained

    assert old_pretrained is resnets.models.pretrained
    assert old_mapping is resnets.models.mapping
    assert old_finetune is resnets.train.finetune
    assert TORCHVISION_MODELS == resnets.models.pretrained.TORCHVISION_MODELS
    assert old_pretrained.PUBLISHED[("resnet18", "v1")].url.startswith("file:")

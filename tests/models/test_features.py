"""Feature extraction with timm's contract: forward_intermediates, prune_intermediate_layers
and create_model(features_only=True, out_indices=...), against timm's ResNets and against
our own full forward for every image model of the registry."""

from __future__ import annotations

import copy
import pytest
import timm
import torch

from resnets.errors import ResnetsError
from resnets.models import create_model, list_models, model_info
from resnets.models.features import FeatureListNet
from resnets.models.summary import count_params

RES = 64


def timm_pair(name: str, randomize_batchnorm):
    """timm's ``name`` with random BN statistics, and ours with its state dict (strict)."""
    reference = randomize_batchnorm(timm.create_model(name, pretrained=False), RES)
    ours = create_model(name).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference, ours


def assert_all_close(got: list[torch.Tensor], want: list[torch.Tensor]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_forward_intermediates_and_features_equal_timms(name, randomize_batchnorm):
    reference, ours = timm_pair(name, randomize_batchnorm)
    assert ours.feature_info == reference.feature_info  # the stem (act1) and four stages
    x = torch.randn(2, 3, RES, RES)
    with torch.no_grad():
        for options in [{}, {"indices": 2}, {"indices": [0, -2]}, {"indices": [3, 1]},
                        {"indices": [1], "stop_early": True}, {"norm": True}]:
            final, maps = ours.forward_intermediates(x, **options)
            want_final, want_maps = reference.forward_intermediates(x, **options)
            torch.testing.assert_close(final, want_final)
            assert_all_close(maps, want_maps)
            assert_all_close(ours.forward_intermediates(x, intermediates_only=True, **options),
                             want_maps)
        torch.testing.assert_close(ours.forward_features(x), reference.forward_features(x))
        torch.testing.assert_close(ours(x), reference(x))


@pytest.mark.parametrize("name,out_indices", [("resnet18", None), ("resnet18", (0, 2)),
                                              ("resnet50", None), ("resnet50", (1, -1))])
def test_features_only_equals_timms(name, out_indices, randomize_batchnorm):
    reference, _ = timm_pair(name, randomize_batchnorm)
    state = {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    indices = {} if out_indices is None else {"out_indices": out_indices}
    theirs = timm.create_model(name, pretrained=False, features_only=True, **indices).eval()
    theirs.load_state_dict(state, strict=False)
    ours = create_model(name, features_only=True, **indices).eval()
    # the layers past the deepest map are gone: what is left is what timm's extractor holds
    assert set(ours.model.state_dict()) == set(theirs.state_dict())
    ours.model.load_state_dict(theirs.state_dict(), strict=True)
    assert ours.feature_info.channels() == theirs.feature_info.channels()
    assert ours.feature_info.reduction() == theirs.feature_info.reduction()
    assert ours.feature_info.module_name() == theirs.feature_info.module_name()
    x = torch.randn(2, 3, RES, RES)
    with torch.no_grad():
        assert_all_close(ours(x), theirs(x))


def test_prune_keeps_what_timm_keeps(randomize_batchnorm):
    reference, ours = timm_pair("resnet18", randomize_batchnorm)
    assert ours.prune_intermediate_layers((1, -3)) == reference.prune_intermediate_layers(
        (1, -3)) == [1, 2]
    assert set(ours.state_dict()) == set(reference.state_dict())  # layer3, layer4, fc gone
    assert ours.num_features == reference.num_features == 128
    x = torch.randn(2, 3, RES, RES)
    with torch.no_grad():
        final, maps = ours.forward_intermediates(x, indices=[1, 2])
        want_final, want_maps = reference.forward_intermediates(x, indices=[1, 2])
        torch.testing.assert_close(final, want_final)
        assert_all_close(maps, want_maps)
        torch.testing.assert_close(ours.forward_features(x), reference.forward_features(x))
    assert ours(x).shape == (2, 128)  # the pooled features of the last kept stage


@pytest.mark.parametrize("name,options", [("resnet20", {}),
                                          ("cifar_preact_resnet", {"depth": 11}),
                                          ("cifar_densenet", {"depth": 10})])
def test_cifar_maps_agree_with_the_full_forward(name, options, randomize_batchnorm):
    # timm has no CIFAR nets: the last map is forward_features, the final features too
    model = randomize_batchnorm(create_model(name, **options), 16)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        feats = model.forward_features(x)
        final, maps = model.forward_intermediates(x)
        normed = model.forward_intermediates(x, norm=True, intermediates_only=True)
        torch.testing.assert_close(final, feats)
        torch.testing.assert_close(model.forward_head(final), model(x))
        torch.testing.assert_close(normed[-1], feats)
        assert_all_close(normed[:-1], maps[:-1])
        # a pre-activation net's last map is before its final BN-ReLU unless norm=True
        assert torch.equal(maps[-1], feats) != (name == "cifar_preact_resnet")
        # stop_early stops at the map taken: the final features are that map
        early, (first,) = model.forward_intermediates(x, indices=[1], stop_early=True)
        assert torch.equal(early, first)
        torch.testing.assert_close(first, maps[1])
        nhwc = model.forward_intermediates(x, output_fmt="NHWC", intermediates_only=True)
    assert_all_close(nhwc, [m.permute(0, 2, 3, 1) for m in maps])
    assert [tuple(m.shape[1:]) for m in maps] == [
        (f["num_chs"], 16 // f["reduction"], 16 // f["reduction"]) for f in model.feature_info]


def test_negative_indices_count_from_the_end():
    model = create_model("resnet20").eval()  # 4 maps: the stem, 3 stages
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        maps = model.forward_intermediates(x, intermediates_only=True)
        assert_all_close(model.forward_intermediates(x, indices=[-4, -1],
                                                     intermediates_only=True),
                         [maps[0], maps[3]])
        assert_all_close(model.forward_intermediates(x, indices=2, intermediates_only=True),
                         maps[2:])
        features = create_model("resnet20", features_only=True, out_indices=(-2, -1))
        features.model.load_state_dict(model.state_dict(), strict=False)
        assert_all_close(features.eval()(x), maps[2:])
    assert features.out_indices == (2, 3)
    assert features.feature_info.channels() == [32, 64]
    assert features.feature_info.reduction() == [2, 4]
    assert features.feature_info.channels(0) == 16 and len(features.feature_info) == 4


@pytest.mark.parametrize("call,message", [
    (lambda: create_model("resnet18", features_only=True, out_indices=(5,)),
     "feature index 5 is out of range: this model has 5 feature maps"),
    (lambda: create_model("resnet20", features_only=True, out_indices=(-5, 0)),
     "feature index -5 is out of range"),
    (lambda: create_model("resnet20", features_only=True, out_indices=5),
     "cannot take the last 5 feature maps: this model has 4"),
    (lambda: create_model("resnet20", features_only=True, out_indices=()),
     "must name at least one"),
    (lambda: create_model("resnet20", out_indices=(1,)), "pass features_only=True"),
    (lambda: create_model("resnet20").forward_intermediates(torch.randn(1, 3, 8, 8),
                                                            output_fmt="NWHC"),
     "output_fmt must be one of NCHW, NHWC"),
])
def test_bad_indices_fail_in_one_line(call, message):
    with pytest.raises(ResnetsError, match=message) as err:
        call()
    assert "\n" not in str(err.value)


def test_pruned_maps_cannot_be_asked_for():
    model = create_model("resnet20")
    assert model.prune_intermediate_layers([1]) == [1]  # an int n would keep the last n
    with pytest.raises(ResnetsError,
                       match=r"feature map 3 was pruned .* \(maps 0 to 1 are left\)"):
        model.forward_intermediates(torch.randn(1, 3, 8, 8), indices=[-1])


def test_audio_and_text_models_share_the_contract():
    for name, x in [("res8_narrow", torch.randn(2, 1, 40, 101)),
                    ("vdcnn9", torch.randint(1, 60, (2, 128)))]:
        model = create_model(name).eval()
        with torch.no_grad():
            final, maps = model.forward_intermediates(x)
            torch.testing.assert_close(final, model.forward_features(x))
            features = FeatureListNet(copy.deepcopy(model), out_indices=(0, 2))
            assert_all_close(features(x), [maps[0], maps[2]])
        assert count_params(features) < count_params(model)


# Each family's cheapest models (built in under 0.2 s); the others, and any model added later,
# run with the slow marker (building all of them takes a minute).
QUICK = {"resnet18", "resnet20", "resnet56", "plain18", "plain20", "preact_resnet18",
         "cifar_preact_resnet", "wrn_16_8", "se_resnet18", "densenet121", "densenet_bc_100_12",
         "cifar_densenet", "vit_digits"}
IMAGE_MODELS = [name if name in QUICK else pytest.param(name, marks=pytest.mark.slow)
                for name in list_models(modality="image", task="classification")]


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_every_image_model_extracts_its_features(name, randomize_batchnorm):
    side = 32 if model_info(name).input_size == 224 else 8
    # measured BN statistics: with identity BNs the maps of resnet1202 overflow to inf
    model = randomize_batchnorm(create_model(name), side)
    x = torch.randn(1, 3, side, side)
    middle = len(model.feature_info) // 2
    with torch.no_grad():
        maps = model.forward_intermediates(x, intermediates_only=True)
        every = FeatureListNet(copy.deepcopy(model))
        assert_all_close(every(x), maps)
        pruned = FeatureListNet(copy.deepcopy(model), out_indices=(0, middle))
        assert_all_close(pruned(x), [maps[0], maps[middle]])
    assert every.feature_info.channels() == [m.shape[1] for m in maps]
    assert every.feature_info.reduction() == [side // m.shape[-1] for m in maps]
    assert count_params(pruned) < count_params(every) < count_params(model)  # and the head


def test_pretrained_features_check_out_indices_before_the_download(monkeypatch):
    import resnets.models.registry as registry

    def download(*_):
        raise AssertionError("downloaded before checking out_indices")
    monkeypatch.setattr(registry, "fetch_state_dict", download)
    with pytest.raises(ResnetsError, match="feature index 7 is out of range"):
        create_model("resnet18", pretrained=True, features_only=True, out_indices=(1, 7))
    # the weights load into the whole model, then it is cut
    state = create_model("resnet18").state_dict()
    monkeypatch.setattr(registry, "fetch_state_dict", lambda *_: state)
    features = create_model("resnet18", pretrained=True, features_only=True, out_indices=(2,))
    assert all(torch.equal(value, state[key])
               for key, value in features.model.state_dict().items())
    assert not any(key.startswith(("layer3", "layer4", "fc")) for key in features.state_dict()
                   if key.startswith("model."))


def test_checkpointed_maps_and_gradients_equal_the_plain_ones():
    plain = create_model("resnet20", num_classes=0)
    ckpt = create_model("resnet20", num_classes=0, grad_checkpointing=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 16, 16)
    grads = []
    for model in (plain, ckpt):
        maps = model.train().forward_intermediates(x, intermediates_only=True)
        sum(m.square().mean() for m in maps).backward()
        grads.append([p.grad for p in model.parameters()])
    assert_all_close(grads[1], grads[0])

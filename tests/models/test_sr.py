"""EDSR and VDSR: output sizes at x2/x3/x4, the published parameter counts, what
``residual=False`` takes away, and how the registry keeps them apart from classifiers."""

import pytest
import torch
from torch import nn

from resnets.errors import ResnetsError
from resnets.models import create_model, list_models, model_info
from resnets.models.registry import check_modality
from resnets.models.sr import EDSR, bicubic_upscale
from resnets.models.summary import count_params

SR_MODELS = list_models(task="super-resolution")
TINY = {"edsr": {"blocks": 2, "features": 8}, "vdsr": {"layers": 4, "features": 8}}


def tiny(name: str, **options) -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, **TINY[model_info(name).family], **options)


def test_the_super_resolution_models_are_registered_as_such():
    assert SR_MODELS == ["edsr_baseline_x2", "edsr_baseline_x3", "edsr_baseline_x4",
                         "edsr_x2", "edsr_x3", "edsr_x4", "vdsr_x2", "vdsr_x3", "vdsr_x4"]
    assert not set(SR_MODELS) & set(list_models(task="classification"))


@pytest.mark.parametrize("name", SR_MODELS)
@pytest.mark.parametrize("chans", [3, 1])
def test_the_output_is_scale_times_the_input(name, chans):
    model = tiny(name, in_chans=chans)
    scale = int(name[-1])
    x = torch.rand(2, chans, 11, 7)  # odd sides: the shuffle must not round
    assert model(x).shape == (2, chans, 11 * scale, 7 * scale)
    assert model.scale == scale and model.in_chans == chans


@pytest.mark.parametrize("name", [n for n in SR_MODELS if model_info(n).published_params])
def test_parameter_counts_are_the_published_ones(name):
    published = model_info(name).published_params  # "1.37M", "40.7M": as many decimals
    with torch.device("meta"):
        count = count_params(create_model(name))
    assert f"{count / 1e6:.{len(published.split('.')[1]) - 1}f}M" == published


def test_edsr_baseline_x2_has_its_1_37_million_parameters_exactly_as_counted_by_layer():
    # head 3->64, 16 blocks of two 64->64 convolutions, one more, a 64->256 conv before the
    # x2 shuffle, the last 64->3: all 3x3 with biases
    conv = lambda i, o: 9 * i * o + o  # noqa: E731
    expected = conv(3, 64) + 33 * conv(64, 64) + conv(64, 256) + conv(64, 3)
    assert count_params(create_model("edsr_baseline_x2")) == expected == 1_369_859


@pytest.mark.parametrize("name", ["edsr_baseline_x2", "edsr_baseline_x3", "vdsr_x4"])
def test_the_twin_without_skips_has_the_same_parameters(name):
    residual, plain = tiny(name), tiny(name, residual=False)
    assert {k: v.shape for k, v in residual.state_dict().items()} == \
        {k: v.shape for k, v in plain.state_dict().items()}
    plain.load_state_dict(residual.state_dict())
    x = torch.rand(1, 3, 8, 8)
    assert not torch.allclose(plain(x), residual(x))


def zero_body(model: nn.Module) -> None:
    with torch.no_grad():
        for p in model.body.parameters():
            p.zero_()


def test_edsr_with_a_zero_body_passes_its_features_through_only_with_skips():
    x, other = torch.rand(2, 1, 3, 9, 9)
    residual, plain = tiny("edsr_baseline_x2"), tiny("edsr_baseline_x2", residual=False)
    for model in (residual, plain):
        zero_body(model)
    with torch.no_grad():  # every block and the body are the identity: the global skip
        mean = residual.mean(x)
        skipped = residual.tail(residual.head(x - mean)) + mean
        assert torch.allclose(residual(x), skipped)
        # no skips: a zero body gives the same output whatever the image
        assert torch.equal(plain(x), plain(other))


def test_vdsr_with_a_zero_body_is_bicubic_with_its_skip_and_zero_without():
    x = torch.rand(1, 3, 9, 9)
    residual, plain = tiny("vdsr_x3"), tiny("vdsr_x3", residual=False)
    for model in (residual, plain):
        zero_body(model)
    with torch.no_grad():
        assert torch.equal(residual(x), bicubic_upscale(x, 3))
        assert torch.equal(plain(x), torch.zeros(1, 3, 27, 27))


def test_edsr_blocks_scale_their_branch():
    model = tiny("edsr_baseline_x2", res_scale=0.1)
    block = model.body[0]
    x = torch.rand(1, 8, 5, 5)
    with torch.no_grad():
        assert torch.allclose(block(x), x + 0.1 * block.conv2(block.relu(block.conv1(x))))
    assert create_model("edsr_x2", blocks=1, features=4).body[0].res_scale == 0.1


def test_classifier_options_and_uses_are_refused_in_one_line():
    with pytest.raises(ResnetsError, match="super-resolution model: it has no classes"):
        create_model("edsr_baseline_x2", num_classes=10)
    with pytest.raises(ResnetsError, match="vdsr_x2 fixes 'scale'"):
        create_model("vdsr_x2", scale=3)
    with pytest.raises(ResnetsError, match="scale must be one of"):
        EDSR(scale=8)
    with pytest.raises(ResnetsError, match=r"'vdsr_x2' is a super-resolution model; a "
                       "segmenter needs a classification model \\(botnet26"):
        check_modality("segmenter.backbone", "vdsr_x2", "image", "a segmenter")
    with pytest.raises(ResnetsError, match="is a classification model; super-resolution "
                       "needs a super-resolution model \\(edsr_baseline_x2"):
        check_modality("model.name", "resnet20", "image", "super-resolution",
                       task="super-resolution")

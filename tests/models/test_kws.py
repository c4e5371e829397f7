"""Tang & Lin's keyword-spotting ResNets: the paper's sizes, its layer arrangement (checked
against a loop written as the authors' reference code runs it), a training step of each."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from resnets.errors import ResnetsError
from resnets.models import create_model, list_models, model_info
from resnets.models.kws import KWSResNet
from resnets.models.summary import count_params

KWS = ["res8", "res8_narrow", "res15", "res15_narrow", "res26", "res26_narrow"]


def paper_rounding(n: int) -> str:
    """Parameters as Table 1 prints them: 238K, 19.9K, 42.6K."""
    k = n / 1000
    return f"{k:.1f}K" if k < 100 else f"{k:.0f}K"


def test_registered_as_audio_models_with_the_paper_sizes():
    assert list_models(modality="audio") == KWS
    for name in KWS:
        info = model_info(name)
        assert info.input_shape == (1, 40, 101) and info.num_classes == 12
        assert paper_rounding(count_params(create_model(name))) == info.published_params
    # By hand: first conv 9*45, 13 convs of 9*45*45, a 45 -> 12 softmax layer with bias.
    assert count_params(create_model("res15")) == 9 * 45 + 13 * 9 * 45 * 45 + 45 * 12 + 12
    assert model_info("res15").published_params == "238K"
    assert count_params(create_model("res8_narrow")) == 9 * 19 + 6 * 9 * 19 * 19 + 19 * 12 + 12
    assert model_info("res8_narrow").published_params == "19.9K"


def test_res15_dilations_and_res8_pooling():
    res15 = create_model("res15")
    dilations = [m.dilation[0] for m in res15.modules() if isinstance(m, torch.nn.Conv2d)]
    assert dilations == [1] + [1, 1, 1, 2, 2, 2, 4, 4, 4, 8, 8, 8, 16]
    res8 = create_model("res8")
    assert res8.stem(torch.randn(1, 1, 40, 101)).shape == (1, 45, 13, 25)


def reference_forward(model: KWSResNet, x: torch.Tensor) -> torch.Tensor:
    """Layer i = ReLU(conv_i); every second layer adds the last sum; BN after every layer."""
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    # Module order: blocks (norm_in, bn1), norm_out, tail; sort them by layer index.
    per_layer = [model.blocks[0].bn1]
    for block in list(model.blocks)[1:]:
        per_layer += [block.norm_in, block.bn1]
    per_layer.append(model.norm_out)
    if model.tail is not None:
        per_layer.append(model.tail[2])
    assert len(per_layer) == len(norms)
    y = F.relu(convs[0](x))
    y = model.pool(y)
    old = y
    for i in range(1, len(convs)):
        y = F.relu(convs[i](y))
        if i % 2 == 0:
            y = y + old
            old = y
        y = per_layer[i - 1](y)
    return model.fc(y.mean((2, 3)))


@pytest.mark.parametrize("name", ["res8", "res15_narrow"])
def test_forward_matches_the_reference_layer_loop(name):
    model = create_model(name).eval()
    with torch.no_grad():
        for m in model.modules():  # non-trivial running statistics
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        x = torch.randn(2, 1, 40, 101)
        torch.testing.assert_close(model(x), reference_forward(model, x))


@pytest.mark.parametrize("name", KWS)
def test_one_training_step(name):
    model = create_model(name, num_classes=3)
    x, y = torch.randn(4, 1, 40, 24), torch.tensor([0, 1, 2, 0])
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname
    opt.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert torch.isfinite(model(x)).all()


def test_surface_and_errors():
    model = create_model("res8_narrow", num_classes=5)
    x = torch.randn(2, 1, 40, 101)
    maps = model.forward_intermediates(x, intermediates_only=True)
    assert [m.shape[1] for m in maps] == [f["num_chs"] for f in model.feature_info]
    assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, 19)
    model.reset_classifier(7)
    assert model(x).shape == (2, 7)
    with pytest.raises(ResnetsError, match="zero_init_residual"):
        create_model("res8", zero_init_residual=True)
    with pytest.raises(ResnetsError, match="fixes 'layers'"):
        create_model("res8", layers=4)
    with pytest.raises(ResnetsError, match="unknown option"):
        create_model("res15", widht=3)

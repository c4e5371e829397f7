"""BN folding for inference keeps the outputs and removes the folded BNs."""

import pytest
import torch

from resnets import create_model
from resnets.models.fuse import (count_batchnorms, fuse_conv_bn, optimize_for_inference,
                                 relative_difference)


def randomise_bn(model):
    """Non-trivial running statistics and affine parameters, so folding has work to do."""
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
    return model.eval()


@pytest.mark.parametrize("name, size, left", [
    ("resnet20", 32, 0),          # every BN follows a conv
    ("resnet18", 64, 0),          # including the projection shortcuts
    ("preact_resnet110", 16, 55),  # each unit's first BN precedes its conv: kept
    ("plain20", 32, 0),
])
def test_fused_model_matches_and_drops_batchnorms(name, size, left):
    torch.manual_seed(0)
    model = randomise_bn(create_model(name))
    fused = fuse_conv_bn(model)
    x = torch.randn(2, 3, size, size)
    assert relative_difference(model, fused, x) < 1e-5
    assert count_batchnorms(fused) == left
    assert count_batchnorms(model) > left  # the original is untouched


def test_fusion_does_not_change_the_input_model():
    model = randomise_bn(create_model("resnet20"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fuse_conv_bn(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("compile_", [False, True])
def test_optimize_for_inference_fp32_equals_eval_mode(compile_):
    torch.manual_seed(0)
    model = randomise_bn(create_model("resnet20"))
    fast = optimize_for_inference(model, compile=compile_)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
    out = fast(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert ((out - ref).abs().max() / ref.abs().max()).item() < 1e-5
    assert count_batchnorms(fast) == 0 and count_batchnorms(model) > 0


def test_optimize_for_inference_bf16_stays_close_and_keeps_the_ranking():
    torch.manual_seed(0)
    model = randomise_bn(create_model("resnet20"))
    x = torch.randn(16, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
    out = optimize_for_inference(model, precision="bf16")(x)
    assert out.dtype == torch.float32
    # bf16 keeps 8 significant bits: a few percent of the logits' range at most, and far
    # from the exact fp32 answer (a silent fp32 fallback would be within 1e-5).
    err = ((out - ref).abs().max() / ref.abs().max()).item()
    assert 1e-5 < err < 0.05
    assert (out.argmax(1) == ref.argmax(1)).float().mean() >= 0.9


def test_optimize_for_inference_rejects_unknown_precision():
    with pytest.raises(ValueError, match="fp32 or bf16"):
        optimize_for_inference(create_model("resnet20"), precision="fp16")

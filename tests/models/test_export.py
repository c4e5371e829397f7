"""Deployment paths compute what eager mode computes: channels_last, torch.export, ONNX run by
onnxruntime, and torch.compile, for one small model of each family."""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch

from resnets.models import create_model, model_info

# (name, options, input resolution): the CIFAR nets of each family, and an ImageNet stem.
CASES = {
    "resnet20": ("resnet20", {}, 16),
    "plain20": ("plain20", {}, 16),
    "preact11": ("cifar_preact_resnet", {"depth": 11}, 16),
    "resnet18": ("resnet18", {}, 64),
}
FAMILIES = {"resnet20": "resnet", "plain20": "plain", "preact11": "preact",
            "resnet18": "resnet"}


@pytest.fixture(params=list(CASES))
def case(request, randomize_batchnorm):
    name, options, res = CASES[request.param]
    assert model_info(name).family == FAMILIES[request.param]
    model = randomize_batchnorm(create_model(name, **options), res)
    x = torch.randn(2, 3, res, res)
    with torch.no_grad():
        expected = model(x)
    assert expected.abs().max() > 0.1  # large enough for a 1e-4 tolerance to mean something
    return model, x, expected


def test_channels_last(case):
    model, x, expected = case
    model = model.to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        out = model(x_cl)
        fmap = model.forward_features(x_cl)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)
    assert fmap.is_contiguous(memory_format=torch.channels_last)  # the layout survives


def test_torch_export(case):
    model, x, expected = case
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        out = program.module()(x)
    assert (out - expected).abs().max() < 1e-4


def test_onnx_runs_in_onnxruntime(case, tmp_path):
    model, x, expected = case
    path = tmp_path / "model.onnx"
    batch = torch.export.Dim("batch", min=1, max=64)
    torch.onnx.export(model, (x,), str(path), input_names=["images"],
                      dynamic_shapes={"x": {0: batch}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"images": x.numpy()})
    assert abs(out - expected.numpy()).max() < 1e-4
    # The batch dimension stays dynamic: three images give three rows.
    x3 = torch.randn(3, *x.shape[1:])
    with torch.no_grad():
        expected3 = model(x3).numpy()
    (out3,) = session.run(None, {"images": x3.numpy()})
    assert out3.shape == expected3.shape and abs(out3 - expected3).max() < 1e-4


def compiled_matches_eager(model, x, expected) -> None:
    torch._dynamo.reset()
    compiled = torch.compile(model)
    with torch.no_grad():
        out = compiled(x)
    assert (out - expected).abs().max() < 1e-4


@pytest.mark.slow  # 24 s on a 2-core Xeon; test_torch_compile and the compiled step stay quick
def test_torch_compile_resnet20(randomize_batchnorm):
    # Compiling takes ~10 s on two CPU cores: one small model here, the others under -m slow.
    model = randomize_batchnorm(create_model("resnet20"), 16)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        expected = model(x)
    compiled_matches_eager(model, x, expected)


@pytest.mark.slow
def test_torch_compile(case):
    compiled_matches_eager(*case)


@pytest.mark.slow
def test_torch_compile_training_step_matches_eager():
    eager = create_model("resnet20")
    compiled_model = create_model("resnet20")
    compiled_model.load_state_dict(eager.state_dict())
    x, target = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))
    torch._dynamo.reset()
    compiled = torch.compile(compiled_model)
    for net in (eager, compiled):
        torch.nn.functional.cross_entropy(net(x), target).backward()
    for (name, a), b in zip(eager.named_parameters(), compiled_model.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-5, msg=name)
    for (name, a), b in zip(eager.named_buffers(), compiled_model.buffers()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)

"""PT2E int8 models (resnets.models.quantize): shapes, file round trip, QAT graphs."""

from __future__ import annotations

import pytest
import torch

from resnets.errors import ResnetsError
from resnets.models import create_model
from resnets.models import quantize as Q

pytest.importorskip("torchao")


def tiny_net(classes=5):
    torch.manual_seed(0)
    return create_model("cifar_resnet", depth=8, num_classes=classes, in_chans=3).eval()


def calibrated(net, shape=(3, 16, 16)):
    example = torch.randn(4, *shape)
    prepared = Q.prepare_ptq(net, example)
    with torch.no_grad():
        prepared(torch.randn(16, *shape))
    return Q.convert(prepared), example


@pytest.fixture(scope="module")
def int8_file(tmp_path_factory):
    """(fp32 net, its int8 program file): exporting is the slow part, done once."""
    net = tiny_net()
    converted, example = calibrated(net)
    return net, Q.save_quantized(converted, example, tmp_path_factory.mktemp("q") / "m.pt2")


@pytest.fixture(scope="module")
def qat_graphs():
    """(trained, fresh) QAT graphs of one net; the trained one has seen a training batch."""
    example = torch.randn(4, 3, 16, 16)
    trained = Q.prepare_qat(tiny_net().train(), example)
    trained(torch.randn(8, 3, 16, 16))  # per-channel ranges of every quantized weight
    return trained, Q.prepare_qat(tiny_net().train(), example)


def test_int8_file_loads_back_and_gives_logits_of_any_batch(int8_file):
    net, path = int8_file
    model = Q.load_quantized(path)
    for batch in (1, 3):
        x = torch.randn(batch, 3, 16, 16)
        out = model(x)
        assert out.shape == (batch, 5) and out.dtype == torch.float32
        with torch.no_grad():  # int8 rounding: close to fp32, not equal
            assert (out - net(x)).abs().max() < 0.25 * net(x).abs().max() + 0.1
    # The file is an ordinary torch.export program: its module runs without the wrapper.
    plain = torch.export.load(str(path)).module()
    assert plain(torch.randn(2, 3, 16, 16)).shape == (2, 5)


def test_int8_file_keeps_no_fp32_copy_of_the_weights(int8_file):
    program = torch.export.load(str(int8_file[1]))
    weights = {k: v for k, v in program.state_dict.items() if v.dim() == 4}
    assert weights and all(v.dtype == torch.int8 for v in weights.values()), {
        k: v.dtype for k, v in weights.items()}


def test_damaged_int8_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"not a program")
    with pytest.raises(ResnetsError, match="not a torch.export program"):
        Q.load_quantized(bad)
    with pytest.raises(ResnetsError, match="does not exist"):
        Q.load_quantized(tmp_path / "missing.pt2")


def test_trained_qat_state_loads_into_a_fresh_graph(qat_graphs):
    trained, fresh = qat_graphs
    fresh.load_state_dict(trained.state_dict())  # shapes settled at build time
    x = torch.randn(4, 3, 16, 16)
    fresh.eval(), trained.eval()
    assert torch.equal(fresh(x), trained(x))


def test_qat_graph_switches_modes_and_evaluation_moves_no_range(qat_graphs):
    prepared = qat_graphs[0]
    x = torch.randn(4, 3, 16, 16)
    prepared.eval()
    assert not prepared.training
    first = prepared(x)
    prepared(torch.randn(4, 3, 16, 16) * 10)
    assert torch.equal(prepared(x), first)  # evaluation updates neither BN nor the ranges
    prepared.train()
    assert prepared.training
    assert not torch.equal(prepared(x), first)  # batch statistics again
    prepared.eval()


def test_qat_graph_built_leaves_bn_statistics_as_the_model_had_them():
    net = tiny_net().train()
    means = {k: v.clone() for k, v in net.state_dict().items() if k.endswith("running_mean")}
    prepared = Q.prepare_qat(net, torch.randn(4, 3, 16, 16) * 5)
    state = prepared.state_dict()
    for key, mean in means.items():
        assert torch.equal(state[key], mean), key

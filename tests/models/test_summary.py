"""Parameter and MAC counting, and the model tables for the CLI and the docs."""

from __future__ import annotations

import re

import pytest
from torch import nn

from resnets.errors import ResnetsError
from resnets.models import create_model
from resnets.models.summary import (count_macs, count_params, format_macs, format_markdown,
                                    format_params, format_table, model_rows)


def tiny_net(in_chans: int = 3) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_chans, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                         nn.ReLU(), nn.Conv2d(8, 4, 1, stride=2), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 2))


def test_count_params_tiny_by_hand():
    # conv 3*8*3*3, BN 2*8, conv 8*4 + 4 bias, linear 4*2 + 2
    assert count_params(tiny_net()) == 216 + 16 + 36 + 10


def test_count_params_counts_parameters_not_buffers():
    model = create_model("resnet20")
    assert count_params(model) == sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    assert buffers > 0
    assert count_params(model) != sum(t.numel() for t in model.state_dict().values())


def test_count_macs_tiny_by_hand():
    # 8x8 input: the 3x3 conv makes 8*8 outputs of 8 channels, each 3*3*3 multiply-adds;
    # the strided 1x1 conv 4*4 outputs of 4 channels, 8 each; the linear layer 4*2.
    expected = 8 * 8 * 8 * 27 + 4 * 4 * 4 * 8 + 4 * 2
    model = tiny_net()
    assert count_macs(model, 8) == expected
    assert count_macs(tiny_net(in_chans=5), 8) == 8 * 8 * 8 * 45 + 4 * 4 * 4 * 8 + 4 * 2
    # The real model is left as it was: on the CPU, in training mode, BN untouched.
    assert model.training and model[0].weight.device.type == "cpu"
    assert model[1].num_batches_tracked.item() == 0


def cifar_resnet_macs(depth: int, res: int = 32, classes: int = 10) -> int:
    """He et al. 2015, Sec. 4.2 by hand: a 3x3 conv, then 2n 3x3 convs per stage on maps of
    res, res/2 and res/4 with 16, 32 and 64 filters; option A adds no multiply-adds."""
    n = (depth - 2) // 6
    macs = res * res * 16 * 3 * 9
    in_chs = 16
    for stage, width in enumerate((16, 32, 64)):
        side = res // 2 ** stage
        macs += side * side * width * in_chs * 9  # the first conv may stride
        macs += (2 * n - 1) * side * side * width * width * 9
        in_chs = width
    return macs + 64 * classes


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110,
                                   pytest.param(1202, marks=pytest.mark.slow)])  # 16 s
def test_count_macs_cifar_resnets_by_hand(depth):
    assert count_macs(f"resnet{depth}") == cifar_resnet_macs(depth)
    assert count_macs("cifar_plain", 32, depth=depth) == cifar_resnet_macs(depth)


def test_count_macs_scales_with_resolution_and_options():
    assert count_macs("resnet20", 64) == cifar_resnet_macs(20, res=64)
    assert count_macs("resnet20", 32, num_classes=100) == cifar_resnet_macs(20, classes=100)
    # A 1-channel stem does a third of the 3-channel stem's work.
    stem = 32 * 32 * 16 * 9
    assert count_macs("resnet20", 32, in_chans=3) - count_macs("resnet20", 32,
                                                                 in_chans=1) == 2 * stem


def test_count_macs_of_a_model_equals_by_name():
    model = create_model("resnet18", num_classes=10)
    assert count_macs(model, 64) == count_macs("resnet18", 64, num_classes=10)
    assert next(model.parameters()).device.type == "cpu"


def test_count_macs_errors():
    with pytest.raises(ResnetsError, match="resolution"):
        count_macs(tiny_net(), 0)
    with pytest.raises(ResnetsError, match="by name"):
        count_macs(tiny_net(), 8, depth=20)
    with pytest.raises(ResnetsError, match="in_chans"):
        count_macs(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), 2)
    assert count_macs(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), 2, in_chans=3) == 24


def test_format_numbers():
    assert format_params(11_689_512) == "11.69M"
    assert format_params(269_722) == "0.27M"
    assert format_macs(1_814_073_344) == "1.81G"
    assert format_macs(40_551_040) == "40.6M"
    assert format_macs(13_840) == "13.8K"


def test_model_rows():
    rows = model_rows("resnet[1-5][0-9]")
    assert [r["name"] for r in rows] == ["resnet18", "resnet20", "resnet32", "resnet34",
                                         "resnet44", "resnet50", "resnet56"]
    by_name = {r["name"]: r for r in rows}
    r18 = by_name["resnet18"]
    assert r18["family"] == "resnet" and r18["input_size"] == 224
    assert r18["params"] == count_params(create_model("resnet18"))
    assert r18["macs"] == count_macs("resnet18", 224)
    assert r18["published_params"] == "11.7M" and "1512.03385" in r18["reference"]
    assert by_name["resnet20"]["macs"] == cifar_resnet_macs(20)
    with pytest.raises(ResnetsError, match="no model matches"):
        model_rows("vgg*")


def test_format_table_is_aligned():
    rows = model_rows("resnet[15][0-9]") + model_rows("plain2*")
    text = format_table(rows)
    lines = text.splitlines()
    header, rule, body = lines[0], lines[1], lines[2:2 + len(rows)]
    assert header.split()[:4] == ["model", "family", "input", "params"]
    assert set(rule) <= {"-", " "}
    for row, line in zip(rows, body):
        assert line.startswith(row["name"] + " ")
        assert format_params(row["params"]) in line and format_macs(row["macs"]) in line
    # Numbers are right-aligned: each column ends where its header ends.
    params_end = header.index("params") + len("params")
    macs_end = header.index("MACs") + len("MACs")
    for line in body:
        assert re.search(r"\d\.\d\dM$", line[:params_end])
        assert re.search(r"\d[GMK]$", line[:macs_end])
    assert "1.81G" in text and "11.69M" in text and "40.6M" in text
    # Each reference is printed once, below the table.
    assert text.count("arXiv:1512.03385") == 1


def test_format_markdown():
    rows = model_rows("resnet20") + model_rows("preact_resnet16*")
    lines = format_markdown(rows).splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + len(rows)
    assert len({line.count("|") for line in table}) == 1
    assert set(table[1]) == set("|-:")  # the alignment row
    assert table[2] == "| `resnet20` | resnet | 32 | 0.27M | 40.6M | 0.27M | - | - | [1] |"
    refs = [line for line in lines if re.match(r"\d\. ", line)]
    assert [ref[:18] for ref in refs] == ["1. He et al. 2015,", "2. He et al. 2016,"]


def test_the_weights_column_marks_models_with_published_weights():
    rows = {r["name"]: r for r in model_rows("resnet[25]0") + model_rows("densenet121")}
    assert rows["resnet50"]["weights"] == ("v1", "v2")
    assert rows["densenet121"]["weights"] == ("v1",) and rows["resnet20"]["weights"] == ()
    text = format_table(list(rows.values()))
    header, *lines = text.splitlines()
    column = header.index("weights")
    cells = {line.split()[0]: line[column:].split()[0] for line in lines[1:len(rows) + 1]}
    assert cells == {"resnet20": "-", "resnet50": "v1+v2", "densenet121": "v1"}
    assert "pretrained=True" in text
    markdown = format_markdown(list(rows.values())).splitlines()
    assert ("| `resnet50` | resnet | 224 | 25.56M | 4.09G | 25.6M | v1+v2 | "
            "76.13/92.86, 80.86/95.43 | [1] |") in markdown

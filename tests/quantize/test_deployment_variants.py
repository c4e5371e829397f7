"""The deployment table's variants (benchmarks/deployment.py): each runs and has its file."""

from __future__ import annotations

import pytest
import torch

from resnets.models import create_model
from resnets.quantize.variants import LABELS, deployment_variants

pytest.importorskip("torchao")


@pytest.mark.slow  # two exports, two quantizations (the compiled row is left out)
def test_every_variant_runs_and_deploys_as_a_file(tmp_path):
    torch.manual_seed(0)
    net = create_model("cifar_resnet", depth=8, num_classes=4).eval()
    calibration = list(torch.randn(16, 3, 16, 16).split(8))
    models, files = deployment_variants(net, (3, 16, 16), tmp_path, calibration, threads=1,
                                        compile=False)
    assert list(models) == [label for label in LABELS if label != "compiled"]
    x = torch.randn(8, 3, 16, 16)
    with torch.no_grad():
        reference = net(x)
    for label, model in models.items():
        out = model(x)
        assert out.shape == (8, 4), label
        assert files[label].is_file(), label
        bound = 1e-4 if "fp32" in label or label == "BN-folded" else 0.3
        assert (out - reference).abs().max() <= bound * reference.abs().max() + bound, label
    assert files["int8 torch"].stat().st_size < files["eager fp32"].stat().st_size
    assert files["int8 onnxruntime"].stat().st_size < files["onnxruntime fp32"].stat().st_size

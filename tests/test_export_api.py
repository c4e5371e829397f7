"""The ONNX Runtime inference path equals eager PyTorch."""

import pytest
import torch

from resnets import create_model
from resnets.errors import ResnetsError
from resnets.export import OnnxModel, export_onnx


@pytest.mark.parametrize("fuse", [True, False])
def test_onnxruntime_matches_eager_for_any_batch(tmp_path, fuse):
    torch.manual_seed(0)
    model = create_model("resnet20").eval()
    for m in model.modules():  # non-trivial BN statistics, so folding matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    path = export_onnx(model, tmp_path / "r20.onnx", (3, 16, 16), fuse=fuse)
    runner = OnnxModel(path, threads=1)
    for batch in (1, 5):
        x = torch.randn(batch, 3, 16, 16)
        with torch.no_grad():
            expected = model(x)
        assert (runner(x) - expected).abs().max().item() <= 1e-4


def test_bad_shapes_and_files_are_user_errors(tmp_path):
    with pytest.raises(ResnetsError, match=r"\(C, H, W\)"):
        export_onnx(create_model("resnet20"), tmp_path / "x.onnx", (1, 3, 16, 16))
    with pytest.raises(ResnetsError, match="does not exist"):
        OnnxModel(tmp_path / "missing.onnx")

import pytest

from resnets.cli import main


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """A tiny synthetic detection set: 4 training and 2 validation images."""
    root = tmp_path_factory.mktemp("shapes")
    assert main(["detect", "synth", str(root), "--num-train", "4", "--num-val", "2",
                 "--image-size", "64", "--max-size", "24"]) == 0
    return root

import pytest

from resnets.cli import main


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """A tiny synthetic segmentation set: 4 training and 2 validation images."""
    root = tmp_path_factory.mktemp("shapes")
    assert main(["segment", "synth", str(root), "--num-train", "4", "--num-val", "2",
                 "--image-size", "32", "--min-size", "8", "--max-size", "16"]) == 0
    return root

import pytest

from sr_folders import image_folders


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return image_folders(tmp_path_factory.mktemp("hr"))


@pytest.fixture(scope="module")
def grey(tmp_path_factory):
    return image_folders(tmp_path_factory.mktemp("grey"), channels=1)

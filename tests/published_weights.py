"""Published weights offline: a weights file placed by hand in a private torch.hub cache, and
small image folders in ImageNet's validation layout."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

from resnets.data.imagenet import imagenet_wnids
from resnets.models import pretrained

RESIZE = {"v1": 256, "v2": 232}  # torchvision's evaluation resize of each weight set
UNREACHABLE = "http://127.0.0.1:9/models/"  # the discard port: any download fails at once


def place_in_cache(monkeypatch, tmp_path: Path, model_name: str, state: dict,
                   tag: str = "v1") -> Path:
    """``state`` as ``model_name``'s ``tag`` weights, in the hub cache of a new TORCH_HOME,
    named ``<model>-<sha256 prefix>.pth``; downloads cannot succeed."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(pretrained, "TORCHVISION_MODELS", UNREACHABLE)
    folder = pretrained.cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / "staging"
    torch.save(state, staging)
    digest = hashlib.sha256(staging.read_bytes()).hexdigest()[:8]
    path = staging.rename(folder / f"{model_name}-{digest}.pth")
    monkeypatch.setitem(pretrained.PUBLISHED, (model_name, tag), pretrained.PublishedWeights(
        model_name, tag, path.name, 70.0, 90.0, RESIZE[tag]))
    return path


def random_photos(count: int, seed: int = 0) -> list[Image.Image]:
    """Small RGB images of smooth random colour fields (JPEG-friendly), of varied shapes."""
    rng = np.random.default_rng(seed)
    photos = []
    for i in range(count):
        coarse = rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
        photos.append(Image.fromarray(coarse).resize((40 + 3 * i, 32), Image.BILINEAR))
    return photos


def write_folder(root: Path, items: dict[str, list[Image.Image]]) -> list[tuple[Path, str]]:
    """``root/<folder>/<i>.JPEG`` for each folder's images; (path, folder) of each file."""
    written = []
    for folder, images in items.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            path = root / folder / f"{i}.JPEG"
            image.save(path, quality=95)
            written.append((path, folder))
    return written


@torch.no_grad()
def torchvision_logits(model_name: str, state: dict, paths: list[Path],
                       tag: str = "v1") -> torch.Tensor:
    """The direct computation: torchvision's model with ``state``, fed through torchvision's
    own transform of the weight set, on the files as PIL reads them."""
    model = getattr(torchvision.models, model_name)()
    model.load_state_dict(state)
    # Every ResNet's weight set of one tag has the same preset; ResNet-50 has both tags.
    transform = torchvision.models.ResNet50_Weights[f"IMAGENET1K_{tag.upper()}"].transforms()
    batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])
    return model.eval()(batch)


def arrange(tmp_path: Path, state: dict, ranks=(0, 2, 4, 5), tag: str = "v1"
            ) -> tuple[Path, torch.Tensor, list[Path]]:
    """``tmp_path/val``: image i filed under the class that torchvision's ResNet-18 with
    ``state`` ranks ``ranks[i]``-th for it, so the expected top-1/top-5 are known from
    torchvision alone. Returns (root, labels, paths)."""
    staging = tmp_path / "staging"
    staging.mkdir()
    paths = []
    for i, photo in enumerate(random_photos(len(ranks))):
        paths.append(staging / f"photo{i}.JPEG")
        photo.save(paths[-1], quality=95)
    order = torchvision_logits("resnet18", state, paths, tag).argsort(1, descending=True)
    root, labels, moved = tmp_path / "val", [], []
    for i, (path, rank) in enumerate(zip(paths, ranks)):
        label = int(order[i, rank])
        (root / wnid(label)).mkdir(parents=True, exist_ok=True)
        moved.append(Path(shutil.move(path, root / wnid(label) / path.name)))
        labels.append(label)
    return root, torch.tensor(labels), moved


def wnid(index: int) -> str:
    return imagenet_wnids()[index]

"""Feature vectors of images: a backbone's pooled, pre-logit features, for retrieval or probes.

An :class:`Embedder` is a model in evaluation mode plus the preprocessing that turns an image
file into its input: a run of ours brings its own (the resize and normalisation it was
trained with), a registry model with published weights (``imagenet``, ``imagenet:v2``) the
weights' own evaluation transform (:func:`resnets.create_transform`), and one with other
weights the ImageNet evaluation transform (resize to ``size / 0.875``, centre crop, ImageNet
mean and std). The feature of an
image is ``forward_head(forward_features(x), pre_logits=True)``: after the global average
pool, before the classifier.

Files: ``.npz`` with ``features`` (float32, N x D) and ``names`` (paths relative to the
folder); or ``.safetensors`` with a ``features`` tensor and the names, as JSON, in the
metadata. Both are written atomically and read without unpickling anything.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from .. import data as D
from ..data.folder import _image_files
from ..errors import DataError, ResnetsError, first_line
from ..train.embedder import FEATURES_OF_IMAGES, Embedder, EvalCrop, from_weights  # noqa: F401

SUFFIXES = (".npz", ".safetensors")


def from_checkpoint(path: str | os.PathLike, device: torch.device) -> Embedder:
    """The backbone of one of our runs (a run directory or its ``.pt``), preprocessed as the
    run's evaluation data was."""
    from ..train.inference import load_trained, preprocess

    model, state, cfg = load_trained(path, device)
    # Only what preprocessing reads: DataLoader workers receive a copy of it.
    slim = {key: state[key] for key in ("image_size", "in_chans", "mean", "std")}
    return Embedder(model, functools.partial(preprocess, state=slim, cfg=cfg), device,
                    f"run {str(path)!r} ({state['model_name']})")


class _Files(torch.utils.data.Dataset):
    def __init__(self, paths: Sequence[str], load: Callable[[str], torch.Tensor]) -> None:
        self.paths, self.load = list(paths), load

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.load(self.paths[index])[0]


@torch.no_grad()
def embed_files(embedder: Embedder, paths: Sequence[str], batch_size: int = 64,
                workers: int = 0) -> np.ndarray:
    """The float32 N x D features of the image files ``paths``, in order."""
    from ..train.logger import progress

    if batch_size < 1:
        raise ResnetsError(f"the batch size must be >= 1, got {batch_size}")
    loader = torch.utils.data.DataLoader(_Files(paths, embedder.load), batch_size=batch_size,
                                         num_workers=workers)
    model = embedder.model.eval()
    chunks = []
    for images in progress(loader, len(loader), "embedding"):
        x = images.to(embedder.device)
        chunks.append(model.forward_head(model.forward_features(x), pre_logits=True)
                      .float().cpu().numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, embedder.num_features),
                                                           np.float32)


def list_images(folder: str | os.PathLike) -> tuple[list[str], list[str]]:
    """(paths, names) of every image under ``folder``, sorted; names are relative to it."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"image folder {str(folder)!r} not found")
    paths = _image_files(root, D.IMAGE_EXTENSIONS)
    if not paths:
        raise DataError(f"{str(folder)!r} holds no {'/'.join(D.IMAGE_EXTENSIONS)} images")
    return paths, [Path(p).relative_to(root).as_posix() for p in paths]


def check_output(path: str | os.PathLike) -> Path:
    """The output path, refused before any work unless it ends in .npz or .safetensors."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ResnetsError(f"write embeddings to a .npz or .safetensors file, not "
                           f"{path.name!r}")
    if path.is_dir():
        raise ResnetsError(f"{str(path)!r} is a folder; name a file")
    return path


def save_embeddings(path: str | os.PathLike, features: np.ndarray, names: Sequence[str],
                    source: str = "") -> Path:
    """Write ``features`` (N x D) and ``names`` (N) to ``path`` atomically."""
    path = check_output(path)
    if len(features) != len(names):
        raise ResnetsError(f"{len(features)} feature vectors but {len(names)} names")
    features = np.ascontiguousarray(features, dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if path.suffix == ".npz":
            with os.fdopen(fd, "wb") as f:
                np.savez(f, features=features, names=np.array(list(names), dtype=str),
                         source=np.array(source))
        else:
            os.close(fd)
            from safetensors.numpy import save_file

            save_file({"features": features}, tmp,
                      metadata={"names": json.dumps(list(names)), "source": source})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_embeddings(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """(features, names) from a file :func:`save_embeddings` wrote."""
    path = check_output(path)
    if not path.is_file():
        raise ResnetsError(f"embeddings file {str(path)!r} does not exist")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                features, names = archive["features"], archive["names"].tolist()
        else:
            from safetensors import safe_open

            with safe_open(str(path), framework="numpy") as f:
                features = f.get_tensor("features")
                names = json.loads((f.metadata() or {}).get("names", "[]"))
    except Exception as exc:  # a damaged archive, header or name list: it was not ours
        raise ResnetsError(f"embeddings file {str(path)!r} cannot be read ({first_line(exc)}); "
                           "write it again with `resnets embed`") from None
    if features.ndim != 2 or not isinstance(names, list) or len(names) != len(features) \
            or not all(isinstance(n, str) for n in names):
        raise ResnetsError(f"embeddings file {str(path)!r} does not hold one name per row of "
                           "a 2-D feature array; write it again with `resnets embed`")
    return features, names

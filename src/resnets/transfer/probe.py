"""Linear-probe evaluation: how linearly separable a frozen backbone makes a dataset's classes.

The backbone embeds ``root/train`` and ``root/val`` (ImageNet layout, one folder per class);
a multinomial logistic regression (scikit-learn, L2 penalty of strength ``1 / C``) is fit to
the standardised training features and scored on the validation features. The probe sees
each image once, centre-cropped, without augmentation: it measures the features, not a
training recipe (Kornblith, Shlens & Le 2019, "Do Better ImageNet Models Transfer Better?",
use the same protocol).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .. import data as D
from ..errors import DataError, ResnetsError
from .embed import Embedder, embed_files


def check_settings(c: float, max_iter: int) -> None:
    if not c > 0:
        raise ResnetsError(f"the inverse regularisation strength C must be > 0, got {c}")
    if max_iter < 1:
        raise ResnetsError(f"max_iter must be >= 1, got {max_iter}")


def linear_probe(train_features: np.ndarray, train_labels: Sequence[int],
                 val_features: np.ndarray, val_labels: Sequence[int], c: float = 1.0,
                 max_iter: int = 1000) -> dict:
    """Fit on the training features, score both splits: top-1 accuracies in [0, 1]."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    check_settings(c, max_iter)
    train_labels, val_labels = np.asarray(train_labels), np.asarray(val_labels)
    if len(np.unique(train_labels)) < 2:
        raise DataError("a linear probe needs training images of at least two classes")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
    probe.fit(train_features, train_labels)
    return {"train_top1": float((probe.predict(train_features) == train_labels).mean()),
            "val_top1": float((probe.predict(val_features) == val_labels).mean()),
            "train_images": int(len(train_labels)), "val_images": int(len(val_labels)),
            "features": int(train_features.shape[1])}


def probe_folder(embedder: Embedder, root: str | os.PathLike, c: float = 1.0,
                 max_iter: int = 1000, batch_size: int = 64, workers: int = 0) -> dict:
    """Embed ``root/train`` and ``root/val`` with ``embedder`` and run :func:`linear_probe`."""
    check_settings(c, max_iter)
    train = D.ImageFolderDataset(root, "train")
    val = D.ImageFolderDataset(root, "val")
    if train.classes != val.classes:
        raise DataError(f"train/ and val/ under {root} hold different class folders")
    features = [embed_files(embedder, [path for path, _ in split.samples], batch_size,
                            workers) for split in (train, val)]
    report = linear_probe(features[0], train.targets, features[1], val.targets, c, max_iter)
    return {**report, "classes": train.classes, "source": embedder.source, "root": str(root)}

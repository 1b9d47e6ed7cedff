"""MNIST digits with labels, from an .npz in the Keras layout (x_train, y_train, x_test,
y_test; 28x28 uint8), e.g. ../shared/data/mnist/mnist.npz.  Nothing is downloaded.

    images, labels = load("../shared/data/mnist", "test")   # (10000, 28, 28) uint8, (10000,) int64
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import UnsupportedInputError

SPLITS = ("train", "test")


def load(path: str | os.PathLike, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of a split; ``path`` is the .npz or a
    folder holding mnist.npz."""
    if split not in SPLITS:
        raise ValueError(f"MNIST split must be one of {SPLITS}, got {split!r}")
    path = Path(path)
    path = path if path.suffix == ".npz" else path / "mnist.npz"
    try:
        with np.load(path) as d:
            images, labels = d[f"x_{split}"], d[f"y_{split}"]
    except (OSError, KeyError, ValueError) as exc:
        raise UnsupportedInputError(f"{path} is not an MNIST .npz with x_{split}/y_{split}: {exc}") from None
    if images.dtype != np.uint8 or images.ndim != 3 or len(images) != len(labels):
        raise UnsupportedInputError(f"{path}: x_{split} must be uint8 (N, H, W) with N labels")
    return images, labels.astype(np.int64)

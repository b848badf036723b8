"""MNIST-style IDX files (Fashion-MNIST, MNIST, KMNIST...), plain or gzipped."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from transferlab.data.dataset import ImageSet
from transferlab.errors import DataError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
_PREFIX = {"train": "train", "test": "t10k"}


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(
            f"{path}: cannot read IDX file ({exc}); re-download or re-install it") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    expected = int(np.prod(dims))
    body = raw[4 + 4 * ndim:]
    if len(body) != expected:
        raise DataError(
            f"{path}: truncated or padded IDX file, header says {expected} bytes, found {len(body)}"
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise DataError(
        f"{directory}: missing {stem}[.gz]; an IDX dataset folder needs "
        "train-/t10k- images-idx3-ubyte and labels-idx1-ubyte files"
    )


def is_idx_dir(directory: Path) -> bool:
    return any(directory.glob("*-images-idx3-ubyte*"))


def load_idx(directory: str | Path, split: str = "train") -> ImageSet:
    """One split of an IDX dataset; class names are Fashion-MNIST's when the folder says so."""
    directory = Path(directory)
    if split not in _PREFIX:
        raise DataError(f"unknown split {split!r}; choose 'train' or 'test'")
    images = _read_idx(_find(directory, f"{_PREFIX[split]}-images-idx3-ubyte"))
    labels = _read_idx(_find(directory, f"{_PREFIX[split]}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{directory}: images {images.shape} and labels {labels.shape} disagree")
    num = int(labels.max()) + 1
    classes = FASHION_CLASSES if "fashion" in str(directory).lower() and num == 10 else [
        str(i) for i in range(num)]
    return ImageSet(
        images=torch.from_numpy(images.copy()).unsqueeze(1),
        labels=torch.from_numpy(labels.astype(np.int64)),
        classes=list(classes),
        source=f"{directory} ({split})",
    )

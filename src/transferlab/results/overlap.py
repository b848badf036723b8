"""Which evaluation images did a model train on? Compact per-image hashes kept in its run folder.

Metrics on images a model has seen are optimistic, and the usual way it happens is silent: the
same folder passed to `fit` and later to `evaluate`. Every saved run stores one 8-byte blake2b
digest per training and validation image (8 bytes per image, not the pixels), plus the stored
image shape the digests were taken at; `evaluate` decodes its data at that shape and counts the
matches.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from transferlab.results.runfolder import HASHES, RunFolder

CHUNK = 1024  # rows hashed per step: bounded memory for file-backed image stores
MEMO = "_training_hashes"  # attribute of a DataSplits that keeps its hashes (training_hashes)


def image_hashes(images, n: int) -> np.ndarray:
    """uint64 blake2b-64 digest of each uint8 image row; `images` is indexed by row tensors."""
    digests = []
    for start in range(0, n, CHUNK):
        block = images[torch.arange(start, min(start + CHUNK, n))]
        rows = block.cpu().contiguous().numpy().reshape(len(block), -1)
        digests.extend(hashlib.blake2b(r.tobytes(), digest_size=8).digest() for r in rows)
    return np.frombuffer(b"".join(digests), dtype="<u8").copy()


def _parts_with_images(splits) -> list:
    return [p for p in (splits.train, splits.val) if p is not None and hasattr(p, "images")]


def training_hashes(splits) -> tuple[np.ndarray, tuple[int, ...]] | None:
    """(hashes of the train + validation images, their stored shape); None for text data.

    Hashing reads every image (from the decode cache file when file-backed), so it is done
    once per splits object and kept on it: every strategy of a `compare` trains on the same
    splits. The memo is tied to the very train/val objects it hashed; a split replaced on
    `splits` since is hashed again.
    """
    parts = _parts_with_images(splits)
    if not parts:
        return None
    memo = getattr(splits, MEMO, None)
    if memo is not None and len(memo[0]) == len(parts) and all(
            a is b for a, b in zip(memo[0], parts)):
        return memo[1]
    hashes = np.concatenate([image_hashes(p.images, len(p)) for p in parts])
    result = (hashes, tuple(parts[0].images.shape[1:]))
    object.__setattr__(splits, MEMO, (parts, result))
    return result


def save_training_hashes(run_dir: Path, splits) -> None:
    """Write the hashes of the images the model learned from (train + validation)."""
    found = training_hashes(splits)
    if found is not None:  # text data: nothing to hash here
        RunFolder(run_dir).write_hashes(*found)


def hash_file_of(model_path: str | Path) -> Path:
    """The hash file next to a model: MODEL_DIR/train_hashes.npz for a folder or a file."""
    p = Path(model_path)
    return (p if p.is_dir() else p.parent) / HASHES


def load_training_hashes(model_path: str | Path) -> tuple[np.ndarray, tuple[int, ...]] | None:
    """(hashes, stored image shape), or None for a model saved without them (or damaged ones:
    they only lose the warning, never the evaluation)."""
    return RunFolder(hash_file_of(model_path).parent).read_hashes()


def overlap_count(data, hashes: np.ndarray) -> int:
    """How many images of `data` have a digest among `hashes`."""
    mine = image_hashes(data.images, len(data))
    return int(np.isin(mine, hashes).sum())


def overlap_warning(data, model_path: str | Path) -> str | None:
    """The warning line when `data` shares images with the model's training data, else None."""
    saved = load_training_hashes(model_path)
    if saved is None or not hasattr(data, "images"):
        return None
    hashes, shape = saved
    if tuple(data.images.shape[1:]) != shape:
        return None  # decoded at another size: digests cannot be compared
    n = overlap_count(data, hashes)
    if n == 0:
        return None
    return (f"warning: {n} of {len(data)} evaluation images are also training images of this "
            "model; the metrics are optimistic")

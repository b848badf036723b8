"""Data sources → ImageSet / TextSet.

`load_dataset` understands:
  fashion-mnist / mnist-style IDX folder   (Debian's /usr/share/datasets/fashion-mnist by default)
  a folder with one sub-folder per class   (DIR/train + DIR/test when both exist)
  a CSV of path,label                      (TRAIN.csv; a sibling TEST csv via --test-data)
  a CSV of text,label / a folder of .txt    → TextSet (data/text.py), tokenised per model
  fashion-mnist-source / -target / -source-shuffled / -source-inverted   the demo split
                                           (data/demo_split.py: classes 0-4 vs 5-9)
"""

from __future__ import annotations

from pathlib import Path

from transferlab.data.dataset import ImageSet
from transferlab.data.demo_split import is_demo_split, load_demo_split
from transferlab.data.files import MAX_DECODE_SIZE, load_csv, load_folder
from transferlab.data.idx import DEBIAN_FASHION_MNIST, is_idx_dir, load_idx
from transferlab.data.text_files import is_text_source, load_text_split
from transferlab.errors import DataError

ALIASES = {"fashion-mnist": DEBIAN_FASHION_MNIST, "fashion_mnist": DEBIAN_FASHION_MNIST}


def resolve_data_path(data: str) -> Path:
    known = data.lower() in ALIASES or is_demo_split(data)
    path = DEBIAN_FASHION_MNIST if is_demo_split(data) else ALIASES.get(data.lower(), Path(data))
    if not path.exists():
        hint = ("install Debian's dataset-fashion-mnist (`apt-get install dataset-fashion-mnist`) "
                "or pass --data DIR with the IDX files" if known
                else "pass an IDX folder, an image folder with one sub-folder per class, or a CSV")
        raise DataError(f"data {data!r} not found at {path}; {hint}")
    return path


def load_dataset(data: str, split: str = "train", image_size: int | None = None,
                 on_bad: str = "skip", task: str = "classification",
                 max_size: int = MAX_DECODE_SIZE,
                 allow_outside: bool = False) -> ImageSet | None:
    """Load one split; returns None for 'test' when the source has no separate test split.

    Folder/CSV images are stored at `image_size`; `None` (the default) chooses it from the
    originals: their median shorter side, at most `max_size`. IDX and text sources ignore both.
    """
    path = resolve_data_path(data)
    if is_demo_split(data):
        return load_demo_split(data, path, split)
    if path.is_dir() and is_idx_dir(path):
        return load_idx(path, split)
    if is_text_source(path):
        return load_text_split(path, split, on_bad, task, allow_outside)
    if path.is_dir():
        sub = path / split if (path / "train").is_dir() else None
        if sub is None:
            return (load_folder(path, image_size, on_bad, max_size, allow_outside)
                    if split == "train" else None)
        if not sub.is_dir():
            return None
        return load_folder(sub, image_size, on_bad, max_size, allow_outside)
    if path.suffix.lower() == ".csv":
        return (load_csv(path, image_size, on_bad, task, max_size, allow_outside)
                if split == "train" else None)
    raise DataError(f"{path}: not an IDX folder, an image folder or a .csv file")

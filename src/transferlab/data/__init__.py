"""Data: sources → labelled sets (ImageSet, TextSet) → the splits a run needs.

`load_dataset` understands:
  fashion-mnist / mnist-style IDX folder   (Debian's /usr/share/datasets/fashion-mnist by default)
  a folder with one sub-folder per class   (DIR/train + DIR/test when both exist)
  a CSV of path,label                      (TRAIN.csv; a sibling TEST csv via --test-data)
  a CSV of text,label / a folder of .txt    → TextSet (data/text.py), tokenised per model

The names below are imported lazily: `transferlab.data.imageio` and `transferlab.data.listing`
(the decode rule and the path rules) must stay importable without torch for exported serving.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "ImageSet": "transferlab.data.dataset",
    "BadFile": "transferlab.data.dataset",
    "TextSet": "transferlab.data.text",
    "load_dataset": "transferlab.data.sources",
    "resolve_data_path": "transferlab.data.sources",
    "DataSplits": "transferlab.data.splits",
    "make_splits": "transferlab.data.splits",
}

__all__ = list(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'transferlab.data' has no attribute {name!r}")

"""Model: a backbone plus a new head (`TransferModel`), built, saved and reloaded offline.

Names are imported lazily: backbone adapters import `model.heads` (a transferlab run used as a
backbone brings its trained head), and `model.transfer` imports the backbones.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = ("TransferModel", "ModelInfo", "build_model", "load_model", "load_strict",
          "read_metadata")

__all__ = list(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module("transferlab.model.transfer"), name)
    raise AttributeError(f"module 'transferlab.model' has no attribute {name!r}")

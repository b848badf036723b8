"""torchvision classification models by name (`tv:resnet18`), offline-first.

torchvision names its heads differently per family (fc, classifier, heads); we find the final
Linear layer, keep it as the source head and replace it by Identity so the model yields features.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from transferlab.backbones.base import Backbone
from transferlab.errors import WeightsError
from transferlab.weights import WeightsSpec


def _detach_last_linear(net: nn.Module) -> tuple[nn.Linear, int]:
    last_name, last = None, None
    for name, module in net.named_modules():
        if isinstance(module, nn.Linear):
            last_name, last = name, module
    if last is None:
        raise WeightsError(f"{type(net).__name__} has no Linear classifier to replace")
    parent = net
    *path, leaf = last_name.split(".")
    for part in path:
        parent = getattr(parent, part)
    setattr(parent, leaf, nn.Identity())
    return last, last.in_features


def create_torchvision(arch: str, pretrained: bool = True) -> Backbone:
    import torchvision

    if arch not in torchvision.models.list_models(module=torchvision.models):
        raise WeightsError(
            f"unknown torchvision classification model {arch!r}; valid names come from "
            "torchvision.models.list_models()"
        )
    weights = torchvision.models.get_model_weights(arch).DEFAULT if pretrained else None
    try:
        net = torchvision.models.get_model(arch, weights=weights)
    except Exception as exc:  # download errors
        cache = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub"
        url = getattr(weights, "url", "?")
        raise WeightsError(
            f"pretrained weights for torchvision {arch!r} are not available offline "
            f"(file {Path(url).name} expected under {cache / 'checkpoints'}): {exc}\n"
            f"Fix: download {url} on a connected machine and put it there."
        ) from exc
    head, dim = _detach_last_linear(net)
    meta = weights.meta if weights is not None else {}
    tf = weights.transforms() if weights is not None else None
    size = int(getattr(tf, "crop_size", [224])[0]) if tf is not None else 224
    spec = WeightsSpec(
        architecture=arch,
        source=f"torchvision:{arch}",
        pretrained=pretrained,
        input_size=(3, size, size),
        mean=tuple(getattr(tf, "mean", (0.485, 0.456, 0.406))),
        std=tuple(getattr(tf, "std", (0.229, 0.224, 0.225))),
        interpolation=str(getattr(tf, "interpolation", "bilinear")).split(".")[-1].lower(),
        labels=tuple(meta.get("categories", ()) or ()),
        license="BSD-3-Clause (torchvision); see the weights' own terms",
    )
    return Backbone(net, spec, dim, head)

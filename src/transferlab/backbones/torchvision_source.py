"""torchvision classification models by name (`tv:resnet18`), offline-first.

torchvision names its heads differently per family (fc, classifier, heads); we find the final
Linear layer, keep it as the source head and replace it by Identity so the model yields features.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from transferlab.backbones.base import Backbone
from transferlab.backbones.timm_source import url_reachable
from transferlab.backbones.weights import WeightsSpec
from transferlab.errors import WeightsError


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


def _checkpoints_dir() -> Path:
    """Where torch.hub keeps downloaded weights ($TORCH_HOME/hub/checkpoints)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def _weights_cached(weights) -> bool:
    return (_checkpoints_dir() / Path(weights.url).name).is_file()


def _missing_message(arch: str, weights, exc: Exception) -> str:
    url = getattr(weights, "url", "?")
    return (f"pretrained weights for torchvision {arch!r} are not available offline (file "
            f"{Path(url).name} expected under {_checkpoints_dir()}: {exc}); download {url} on a "
            "connected machine and put it there")


def create_torchvision(arch: str, pretrained: bool = True) -> Backbone:
    """The `tv:` source; preprocessing comes from the weights' own transforms (crop size,
    mean/std, interpolation), and `pretrained=False` needs no download."""
    import torchvision

    if arch not in torchvision.models.list_models(module=torchvision.models):
        raise WeightsError(
            f"unknown torchvision classification model {arch!r}; valid names come from "
            "torchvision.models.list_models()"
        )
    weights = torchvision.models.get_model_weights(arch).DEFAULT if pretrained else None
    try:
        if weights is not None and not _weights_cached(weights) and not url_reachable(weights.url):
            raise OSError("no network and no cached copy")
        net = torchvision.models.get_model(arch, weights=weights)
    except Exception as exc:  # download errors
        raise WeightsError(_missing_message(arch, weights, exc)) from exc
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

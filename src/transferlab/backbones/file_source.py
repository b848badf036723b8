"""Local weight files: a transferlab run or export, or a plain state dict for a named architecture.

A run folder is rebuilt on the architecture it was trained on (timm, torchvision or a text
encoder, by the spec's modality and the run's backbone name) and its fine-tuned weights loaded,
so any transferlab run can serve as the backbone of the next one.

Safetensors files load without executing anything. `.pt/.pth` files load only with
`weights_only=True`: a pickle that would run code is refused, never executed.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from transferlab.backbones.base import Backbone
from transferlab.backbones.hf_source import create_text_backbone
from transferlab.backbones.timm_source import create_timm
from transferlab.backbones.torchvision_source import create_torchvision
from transferlab.backbones.weights import WeightsSpec, sha256_file
from transferlab.errors import ConfigError, WeightsError
from transferlab.model.heads import create_head

MODEL_FILE = "model.safetensors"


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and string metadata from a safetensors or weights-only torch file."""
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                return {k: f.get_tensor(k) for k in f.keys()}, meta
        except Exception as exc:
            raise WeightsError(f"{path} is not a readable safetensors file: {exc}") from exc
    if path.suffix in (".pt", ".pth", ".bin", ".ckpt"):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise WeightsError(
                f"{path} could not be loaded with weights_only=True ({type(exc).__name__}); "
                "transferlab never unpickles arbitrary code. Fix: re-save it as safetensors "
                "(safetensors.torch.save_file(state_dict, 'weights.safetensors'))."
            ) from exc
        if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict):
            raise WeightsError(f"{path} holds a {type(obj).__name__}, not a state dict")
        return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}, {}
    raise WeightsError(
        f"{path}: unsupported weights format {path.suffix!r}; use .safetensors, .pt or .pth"
    )


def own_head(tensors: dict[str, torch.Tensor], info: dict, num_features: int) -> nn.Module | None:
    """The classifier a transferlab model was trained with, for its source task (LEEP scores a
    transferlab-pretrained backbone by it); None when it is not a classifier or does not load."""
    head_t = {k[len("head."):]: v for k, v in tensors.items() if k.startswith("head.")}
    classes = info.get("classes") or []
    if not head_t or not classes or info.get("task", "classification") != "classification":
        return None
    for dropout in (0.0, 0.1):  # a linear head with dropout keeps its Linear at index 1
        head = create_head(info.get("head", "linear"), num_features, len(classes), dropout)
        try:
            head.load_state_dict(head_t)
        except (RuntimeError, ConfigError):
            continue
        return head.eval()
    return None


def create_from_path(name: str, pretrained: bool = True, arch: str | None = None) -> Backbone:
    """The `file` source: `[file:]PATH` to weights or a run folder. `pretrained=False` checks
    that the file fits, then returns the same architecture with random weights (scratch)."""
    return create_from_file(Path(name.removeprefix("file:")), arch, pretrained)


def _architecture(info: dict, spec: WeightsSpec | None, arch: str) -> Backbone:
    """A random-init backbone of the architecture a saved model was built on: a text encoder
    (same local config and tokenizer), a torchvision model, or a timm architecture."""
    name = str(info.get("backbone") or "")
    if spec is not None and spec.modality == "text":
        # the encoder name survives runs trained on runs; older models only have `backbone`
        return create_text_backbone((info.get("extra") or {}).get("encoder") or name,
                                    pretrained=False)
    if name.startswith(("tv:", "torchvision:")):
        return create_torchvision(name.split(":", 1)[1], pretrained=False)
    return create_timm(arch, pretrained=False)


def create_from_file(path: str | Path, arch: str | None = None,
                     pretrained: bool = True) -> Backbone:
    """A backbone from a run folder, a transferlab model file, or a state dict plus `arch`.

    A transferlab model keeps its trained head as the source head (LEEP scores by it); a text
    model also keeps the token length it was trained with.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    tensors, meta = read_state_dict(path)
    info = json.loads(meta["transferlab"]) if "transferlab" in meta else {}
    spec_d = info.get("spec")
    base = WeightsSpec.from_dict(spec_d) if spec_d else None
    arch = arch or (base.architecture if base else None)
    if not arch:
        raise WeightsError(
            f"{path} does not say which architecture it holds; pass --arch NAME "
            "(a timm architecture such as efficientnet_lite0 or resnet18)"
        )
    backbone = _architecture(info, base, arch)
    extra = info.get("extra") or {}
    if base is not None and base.modality == "text" and extra.get("max_length"):
        backbone.max_length = min(int(extra["max_length"]), backbone.max_positions)
    dropped = _load_backbone_weights(backbone, tensors, info, path, arch)
    if not pretrained:  # the file fits; scratch gets the same architecture, random init
        return _architecture(info, base, arch)
    backbone.spec = WeightsSpec.from_dict(
        {**(base or backbone.spec).to_dict(), "source": f"file:{path}", "pretrained": True,
         "sha256": sha256_file(path), "architecture": arch, "labels": info.get("classes", [])}
    )
    backbone.dropped_keys = dropped  # the old head, reported by the caller
    return backbone


def _load_backbone_weights(backbone: Backbone, tensors: dict[str, torch.Tensor], info: dict,
                           path: Path, arch: str) -> list[str]:
    """Load a whole TransferModel's backbone (keeping its head as the source head) or a plain
    state dict into `backbone`; returns the keys that did not belong (an old classifier)."""
    prefix = "backbone.net."
    whole_model = any(k.startswith(prefix) for k in tensors)
    # The random classifier timm built is no source head; a transferlab model's trained head is.
    backbone.set_source_head(own_head(tensors, info, backbone.num_features)
                             if whole_model else None)
    if whole_model:  # a whole TransferModel: keep the backbone
        tensors = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    own = backbone.net.state_dict()
    dropped = sorted(k for k in tensors if k not in own)
    kept = {k: v for k, v in tensors.items() if k not in dropped}
    missing, _ = backbone.net.load_state_dict(kept, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing:
        raise WeightsError(
            f"{path} does not fit {arch}: {len(missing)} missing keys, e.g. {missing[:5]}"
        )
    return dropped

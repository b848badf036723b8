"""Local weight files: a transferlab run or export, or a plain state dict for a named architecture.

Safetensors files load without executing anything. `.pt/.pth` files load only with
`weights_only=True`: a pickle that would run code is refused, never executed.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from transferlab.backbones.timm_source import TimmBackbone, create_timm
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


def create_from_file(path: str | Path, arch: str | None = None) -> TimmBackbone:
    """A backbone from a run folder, a transferlab model file, or a state dict plus `arch`."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    tensors, meta = read_state_dict(path)
    info = json.loads(meta["transferlab"]) if "transferlab" in meta else {}
    spec_d = info.get("spec")
    arch = arch or (spec_d or {}).get("architecture")
    if not arch:
        raise WeightsError(
            f"{path} does not say which architecture it holds; pass --arch NAME "
            "(a timm architecture such as efficientnet_lite0 or resnet18)"
        )
    backbone = create_timm(arch, pretrained=False)
    prefix = "backbone.net."
    whole_model = any(k.startswith(prefix) for k in tensors)
    # The random classifier timm built is no source head; a transferlab model's trained head is.
    backbone.set_source_head(own_head(tensors, info, backbone.num_features)
                             if whole_model else None)
    if whole_model:  # a whole TransferModel: keep the backbone
        tensors = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    dropped = sorted(k for k in tensors if k not in backbone.net.state_dict())
    kept = {k: v for k, v in tensors.items() if k not in dropped}
    missing, _ = backbone.net.load_state_dict(kept, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing:
        raise WeightsError(
            f"{path} does not fit {arch}: {len(missing)} missing keys, e.g. {missing[:5]}"
        )
    base = WeightsSpec.from_dict(spec_d) if spec_d else backbone.spec
    backbone.spec = WeightsSpec.from_dict(
        {**base.to_dict(), "source": f"file:{path}", "pretrained": True,
         "sha256": sha256_file(path), "architecture": arch, "labels": info.get("classes", [])}
    )
    backbone.dropped_keys = dropped  # the old head, reported by the caller
    return backbone

"""TransferModel = pretrained backbone + new head for the target task.

Model metadata (spec, classes, head kind, task) travels in every saved file so a run folder or an
exported model can be rebuilt and fed correctly without the original command line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from transferlab.backbones import Backbone, StageGroup, create_backbone
from transferlab.backbones.weights import WeightsSpec
from transferlab.errors import CheckpointError
from transferlab.model.heads import create_head


@dataclass
class ModelInfo:
    """What is needed to rebuild a TransferModel before loading its weights."""

    backbone: str
    spec: WeightsSpec
    classes: list[str]
    head: str = "linear"
    task: str = "classification"
    image_size: int = 224
    extra: dict = field(default_factory=dict)
    # softmax(logits / temperature) is the calibrated probability; fitted after training
    # (engine/calibrate.py), 1.0 while training and for models saved before calibration existed
    temperature: float = 1.0

    @property
    def decode_size(self) -> int:
        """Side the training images were stored (decoded) at; predict and serving decode new
        images at this size and resize to `image_size` as evaluation does, so a 28 px source
        is upsampled the same way in training and in deployment. Models saved before the size
        was recorded decoded at `image_size` (at least 32 px)."""
        return int(self.extra.get("decode_size") or max(self.image_size, 32))

    def to_json(self) -> str:
        return json.dumps({
            "backbone": self.backbone, "spec": self.spec.to_dict(), "classes": self.classes,
            "head": self.head, "task": self.task, "image_size": self.image_size,
            "extra": self.extra, "temperature": self.temperature,
        })

    @classmethod
    def from_json(cls, text: str) -> ModelInfo:
        d = json.loads(text)
        return cls(d["backbone"], WeightsSpec.from_dict(d["spec"]), list(d["classes"]),
                   d.get("head", "linear"), d.get("task", "classification"),
                   int(d.get("image_size", 224)), d.get("extra", {}),
                   float(d.get("temperature", 1.0)))


class TransferModel(nn.Module):
    def __init__(self, backbone: Backbone, head: nn.Module, info: ModelInfo) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.info = info

    @property
    def spec(self) -> WeightsSpec:
        return self.backbone.spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits divided by the fitted temperature, so every consumer of the model (predict,
        evaluate, traced exports) gets calibrated probabilities from a plain softmax. T is a
        Python float, not a tensor: exports trace it as a constant and the state dict (and
        hence checkpoints and old model files) is unchanged. Training runs at T = 1."""
        out = self.head(self.backbone(x))
        t = self.info.temperature
        return out if t == 1.0 else out / t

    def stage_groups(self) -> list[StageGroup]:
        return self.backbone.stage_groups()

    def save(self, path: str | Path, metadata: dict[str, str] | None = None) -> None:
        """Atomic safetensors write with the ModelInfo in the file's metadata."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        meta = {"transferlab": self.info.to_json(), **(metadata or {})}
        save_file(state, str(tmp), metadata=meta)
        tmp.replace(path)


def build_model(backbone_name: str, classes: list[str], pretrained: bool = True,
                head: str = "linear", task: str = "classification", image_size: int = 224,
                dropout: float = 0.0, in_chans: int | None = None,
                adapt: str = "sum", arch: str | None = None) -> TransferModel:
    """A backbone by name with a new head; `in_chans` adapts the first conv (see adapt.py).

    `arch` names the timm architecture of a weights file that does not carry it (a plain state
    dict, not a transferlab model or export).
    """
    backbone = create_backbone(backbone_name, pretrained=pretrained, arch=arch)
    if in_chans is not None and in_chans != backbone.spec.input_size[0]:
        from transferlab.backbones.adapt import adapt_input_channels

        adapt_input_channels(backbone, in_chans, adapt)
    out = 1 if task == "regression" else len(classes)
    info = ModelInfo(backbone_name, backbone.spec, list(classes), head, task, image_size,
                     dict(getattr(backbone, "model_extra", {})))  # e.g. text: max_length
    return TransferModel(backbone, create_head(head, backbone.num_features, out, dropout), info)


def load_model(path: str | Path) -> TransferModel:
    """Rebuild a saved TransferModel (run folder or model.safetensors) without any download."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"no model at {path}; pass a run folder or a model.safetensors")
    meta = read_metadata(path)
    if "transferlab" not in meta:
        raise CheckpointError(f"{path} is not a transferlab model (no metadata)")
    info = ModelInfo.from_json(meta["transferlab"])
    backbone = create_backbone(architecture_name(info), pretrained=False)
    if info.spec.input_size[0] != backbone.spec.input_size[0]:
        from transferlab.backbones.adapt import adapt_input_channels

        adapt_input_channels(backbone, info.spec.input_size[0])
    backbone.spec = info.spec
    out = 1 if info.task == "regression" else len(info.classes)
    model = TransferModel(backbone, create_head(info.head, backbone.num_features, out), info)
    load_strict(model, load_file(str(path)), str(path))
    model.eval()
    return model


def architecture_name(info: ModelInfo) -> str:
    """The backbone name that rebuilds a saved model's architecture with random weights (its
    own come from the file, so nothing is fetched or mapped): a text encoder by its name (same
    local config and tokenizer), a torchvision model by its `tv:` name, else the timm
    architecture the spec records (which also covers bundled and file backbones)."""
    if info.spec.modality == "text":
        return info.extra.get("encoder") or info.backbone
    if info.backbone.startswith(("tv:", "torchvision:")):
        return info.backbone
    return f"timm:{info.spec.architecture}"


def read_metadata(path: Path) -> dict[str, str]:
    """The string metadata of a safetensors file; a file that is not one (truncated, another
    format) is one CheckpointError naming it, not a safetensors traceback."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - SafetensorError, OSError, ...
        detail = " ".join(str(exc).split())[:120]
        raise CheckpointError(
            f"{path} is not a valid safetensors model (truncated or another format: {detail}); "
            "pass a run folder or re-run `transferlab export RUN_DIR --format safetensors`"
        ) from exc


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], origin: str) -> None:
    """Load every key or fail naming the keys and shapes that do not fit."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{origin} does not fit this model (another architecture or class count?): "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}, shape mismatches {wrong[:5]}"
        )
    model.load_state_dict(state)

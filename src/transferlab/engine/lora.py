"""LoRA adapters (through `peft`) for the `lora` strategy: add, count, merge.

LoRA (Hu et al. 2021) keeps each chosen weight W frozen and trains a low-rank update
W + (alpha / r) * B @ A next to it; B starts at zero, so training starts from the pretrained
network. The Trainer adds the adapters before it restores a checkpoint (so a checkpoint's state
dict, adapter weights included, loads as it was saved) and merges them into the base weights
when the run ends: what leaves training is a plain TransferModel with the original state-dict
keys, which `load_model`, `predict`, `evaluate` and every export read with no peft installed.

Targets:
  text encoders  attention = the query/key/value projections of every transformer layer;
                 all = every Linear inside the transformer layers (attention output + MLP too)
  image backbones  all = every convolution with groups 1 and every Linear of the backbone
                 (peft cannot merge grouped convolutions, so depthwise ones stay frozen);
                 attention = the attention projections of a ViT-style backbone, if it has any
  auto (default) = attention for text, all for images
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from transferlab.errors import ConfigError
from transferlab.model import TransferModel

LORA_TARGETS = ("auto", "attention", "all")
INSTALL = "pip install 'transferlab[lora]'"
# the attention input projections under the names transformers and timm give them
ATTENTION_NAMES = frozenset({"query", "key", "value", "q_lin", "k_lin", "v_lin", "q_proj",
                             "k_proj", "v_proj", "qkv", "in_proj"})
ADAPTER_MARK = "lora_"  # every adapter parameter's name holds it (lora_A, lora_B)


@dataclass(frozen=True)
class LoraSetup:
    """What was adapted: saved in ModelInfo.extra["lora"] and the run's config.yaml."""

    rank: int
    alpha: float
    targets: str  # the resolved choice: attention or all
    modules: int  # how many layers got an adapter
    adapter_params: int

    def to_dict(self) -> dict:
        return asdict(self)


def require_peft():
    """The peft module, or one ConfigError with the install line."""
    try:
        import peft
    except ImportError:
        raise ConfigError(f"--strategy lora needs the peft package: {INSTALL}") from None
    return peft


def resolve_targets(model: TransferModel, targets: str) -> str:
    if targets not in LORA_TARGETS:
        raise ConfigError(f"unknown LoRA targets {targets!r}; choose one of "
                          f"{', '.join(LORA_TARGETS)}")
    if targets == "auto":
        return "attention" if model.spec.modality == "text" else "all"
    return targets


def target_names(model: TransferModel, targets: str) -> list[str]:
    """Full module names (inside `backbone.net`) that get an adapter; never empty."""
    net = model.backbone.net
    text = model.spec.modality == "text"
    inside = _layer_prefixes(model) if text else None
    names = []
    for name, mod in net.named_modules():
        if inside is not None and not name.startswith(inside):
            continue  # embeddings and the unused pooler stay as they are
        leaf = name.rsplit(".", 1)[-1]
        if targets == "attention":
            ok = isinstance(mod, nn.Linear) and leaf in ATTENTION_NAMES
        else:
            ok = isinstance(mod, nn.Linear) or (
                not text and isinstance(mod, nn.Conv2d) and mod.groups == 1)
        if ok:
            names.append(name)
    if not names:
        kind = "attention projections" if targets == "attention" else "Linear or Conv2d layers"
        fix = "pass --lora-targets all" if targets == "attention" else "use --strategy finetune"
        raise ConfigError(f"{model.spec.architecture} has no {kind} for LoRA; {fix}")
    return names


def _layer_prefixes(model: TransferModel) -> tuple[str, ...]:
    """Name prefixes of the transformer layers (the stage groups other than embeddings)."""
    ids = {id(m): n for n, m in model.backbone.net.named_modules()}
    prefixes = []
    for g in model.stage_groups():
        if g.name.startswith("layer."):
            prefixes += [ids[id(m)] + "." for m in g.modules if id(m) in ids]
    return tuple(prefixes) or ("",)


def add_adapters(model: TransferModel, rank: int, alpha: float, targets: str) -> LoraSetup:
    """Wrap the target layers of the backbone in LoRA layers (in place); base weights frozen."""
    peft = require_peft()
    resolved = resolve_targets(model, targets)
    names = target_names(model, resolved)
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, bias="none",
                             target_modules=names)
    peft.inject_adapter_in_model(config, model.backbone.net)
    setup = LoraSetup(rank, float(alpha), resolved, len(names), adapter_param_count(model))
    model.info.extra["lora"] = setup.to_dict()
    return setup


def has_adapters(model: nn.Module) -> bool:
    return any(ADAPTER_MARK in n for n, _ in model.named_parameters())


def adapter_param_count(model: nn.Module) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if ADAPTER_MARK in n)


def mark_adapters_trainable(model: nn.Module) -> None:
    for n, p in model.named_parameters():
        if ADAPTER_MARK in n:
            p.requires_grad_(True)


def merge_adapters(model: TransferModel) -> int:
    """W += (alpha / r) B @ A in every adapted layer, then put the plain layer back.

    Afterwards the state dict has exactly the keys of a model that never had adapters, so it
    saves and loads like any other run. Returns how many layers were merged.
    """
    from peft.tuners.lora import LoraLayer

    net = model.backbone.net
    merged = 0
    for name, mod in list(net.named_modules()):
        if not isinstance(mod, LoraLayer):
            continue
        mod.merge(safe_merge=True)  # refuses to write NaN/inf into the base weights
        parent_name, _, leaf = name.rpartition(".")
        parent = net.get_submodule(parent_name) if parent_name else net
        setattr(parent, leaf, mod.get_base_layer())
        merged += 1
    for p in model.backbone.parameters():
        p.requires_grad_(True)  # as a freshly built model: freezing is the trainer's business
    return merged

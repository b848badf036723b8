"""Freezing by the backbone's own stage groups, with an explicit BatchNorm policy.

Frozen BN means eval mode: running mean/var stay at their pretrained values, which matters in
few-shot fine-tuning where batch statistics of a few images wipe out a good head. `model.train()`
would undo that, so `set_train_mode` is what the engine calls instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from transferlab.errors import ConfigError
from transferlab.model import TransferModel

BN_POLICIES = ("frozen", "train")
_BN_TYPES = (nn.modules.batchnorm._BatchNorm,)


@dataclass(frozen=True)
class FreezeReport:
    frozen_stages: list[str]
    trainable_stages: list[str]
    trainable_params: int
    frozen_params: int
    bn: str


def freeze_stages(model: TransferModel, frozen: int | str, bn: str) -> FreezeReport:
    """Freeze the first `frozen` stage groups ("all" = whole backbone, 0 = nothing).

    The head is always trainable. Returns what changed so runs can log and save it.
    """
    if bn not in BN_POLICIES:
        raise ConfigError(f"unknown BN policy {bn!r}; choose one of {BN_POLICIES}")
    groups = model.stage_groups()
    k = len(groups) if frozen == "all" else int(frozen)
    if k < 0 or k > len(groups):
        raise ConfigError(f"cannot freeze {k} stages: the backbone has {len(groups)} "
                          f"({', '.join(g.name for g in groups)})")
    for p in model.parameters():
        p.requires_grad_(True)
    for g in groups[:k]:
        for p in g.parameters():
            p.requires_grad_(False)
    if k == len(groups):  # parameters outside any group (rare) follow the backbone
        for p in model.backbone.parameters():
            p.requires_grad_(False)
    model._frozen_stage_count = k  # noqa: SLF001 - read by set_train_mode
    model._bn_policy = bn
    count = lambda req: sum(p.numel() for p in model.parameters() if p.requires_grad == req)  # noqa: E731
    return FreezeReport([g.name for g in groups[:k]], [g.name for g in groups[k:]],
                        count(True), count(False), bn)


def set_train_mode(model: TransferModel) -> None:
    """model.train(), then BN layers that must not move back to eval mode."""
    model.train()
    bn = getattr(model, "_bn_policy", "train")
    k = getattr(model, "_frozen_stage_count", 0)
    if bn == "frozen":
        for m in model.backbone.modules():
            if isinstance(m, _BN_TYPES):
                m.eval()
        return
    groups = model.stage_groups()
    for g in groups[:k]:
        for mod in g.modules:
            for m in mod.modules():
                if isinstance(m, _BN_TYPES):
                    m.eval()
    if k == len(groups):
        model.backbone.eval()

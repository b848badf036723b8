"""Freezing by the backbone's own stage groups, with an explicit BatchNorm policy.

Frozen BN means eval mode: running mean/var stay at their pretrained values, which matters in
few-shot fine-tuning where batch statistics of a few images wipe out a good head. `model.train()`
would undo that, so `set_train_mode` is what the engine calls instead.

What is frozen is a `FreezeState` that `freeze_stages` returns and the Trainer keeps (and saves
in its checkpoints' progress), not hidden attributes on the model: the model stays a plain
module, and a resumed run can check that its phase freezes what the checkpoint says it did.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from transferlab.engine.lora import adapter_param_count, mark_adapters_trainable
from transferlab.errors import ConfigError
from transferlab.model import TransferModel

BN_POLICIES = ("frozen", "train")
_BN_TYPES = (nn.modules.batchnorm._BatchNorm,)


@dataclass(frozen=True)
class FreezeState:
    """How many leading stage groups are frozen, and the BatchNorm policy; all `set_train_mode`
    needs. The default freezes nothing and trains BN, i.e. plain `model.train()`."""

    frozen: int = 0
    bn: str = "train"
    adapters: bool = False  # LoRA adapter parameters train inside the frozen stages

    def to_dict(self) -> dict:
        return {"frozen": self.frozen, "bn": self.bn} | ({"adapters": True} if self.adapters
                                                         else {})

    @classmethod
    def from_dict(cls, d: dict) -> FreezeState:
        return cls(int(d["frozen"]), str(d["bn"]), bool(d.get("adapters", False)))


@dataclass(frozen=True)
class FreezeReport:
    frozen_stages: list[str]
    trainable_stages: list[str]
    trainable_params: int
    frozen_params: int
    bn: str
    adapter_params: int = 0  # trainable LoRA parameters (counted in trainable_params)
    head_params: int = 0

    @property
    def state(self) -> FreezeState:
        return FreezeState(len(self.frozen_stages), self.bn, self.adapter_params > 0)

    def line(self) -> str:
        """`trainable 1,234 of 22,714,371 parameters (0.01%): adapters 1,000 + head 234`."""
        total = self.trainable_params + self.frozen_params
        parts = (f"adapters {self.adapter_params:,} + " if self.adapter_params else "")
        return (f"trainable {self.trainable_params:,} of {total:,} parameters "
                f"({100 * self.trainable_params / max(total, 1):.2f}%): {parts}"
                f"head {self.head_params:,}")

    def counts(self) -> dict:
        """The numbers of `line`, for the run's config.yaml."""
        return {"trainable": self.trainable_params, "total": self.trainable_params
                + self.frozen_params, "adapters": self.adapter_params, "head": self.head_params}


def freeze_stages(model: TransferModel, frozen: int | str, bn: str,
                  adapters: bool = False) -> FreezeReport:
    """Freeze the first `frozen` stage groups ("all" = whole backbone, 0 = nothing).

    The head is always trainable, and with `adapters` so are the LoRA adapters the trainer put
    into the backbone (engine/lora.py), frozen stages or not. Returns what changed so runs can
    log it; its `state` is what `set_train_mode` needs.
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
    if adapters:
        mark_adapters_trainable(model)
    count = lambda req: sum(p.numel() for p in model.parameters() if p.requires_grad == req)  # noqa: E731
    return FreezeReport([g.name for g in groups[:k]], [g.name for g in groups[k:]],
                        count(True), count(False), bn,
                        adapter_param_count(model) if adapters else 0,
                        sum(p.numel() for p in model.head.parameters()))


def set_train_mode(model: TransferModel, state: FreezeState) -> None:
    """model.train(), then the BN layers (or whole frozen backbone) `state` keeps in eval mode."""
    model.train()
    k = state.frozen
    if state.bn == "frozen":
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

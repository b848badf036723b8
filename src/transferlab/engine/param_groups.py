"""Optimizer parameter groups: head vs backbone stages, per-group LR, no decay on norms/biases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from torch import nn


class Stage(Protocol):
    """A named slice of a backbone (`backbones.base.StageGroup` is one)."""

    name: str

    def parameters(self) -> list[nn.Parameter]: ...


class Trainable(Protocol):
    """What the optimizer needs of a model: a head, a backbone and its stages in input order.

    `TransferModel` is one; a script that trains part of a network (bench/rank_top_tune.py)
    wraps that part in a small module with the same three names and gets the same groups.
    """

    head: nn.Module
    backbone: nn.Module

    def stage_groups(self) -> Sequence[Stage]: ...


def _split_decay(params: list[nn.Parameter]) -> tuple[list, list]:
    decay = [p for p in params if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in params if p.requires_grad and p.ndim <= 1]
    return decay, no_decay


def build_param_groups(model: Trainable, lr: float, backbone_lr_mult: float,
                       weight_decay: float, layer_decay: float | None = None) -> list[dict]:
    """Named groups: `head`, then each backbone stage (earliest first).

    Backbone LR is `lr * backbone_lr_mult`, further scaled by `layer_decay ** depth_from_top`
    when layer decay is set, so early generic layers move least. Each group carries its own
    `base_lr` so schedules multiply rather than overwrite.
    """
    groups: list[dict] = []

    def add(name: str, params: list[nn.Parameter], group_lr: float) -> None:
        decay, no_decay = _split_decay(params)
        for suffix, ps, wd in (("", decay, weight_decay), (".no_decay", no_decay, 0.0)):
            if ps:
                groups.append({"name": name + suffix, "params": ps, "lr": group_lr,
                               "base_lr": group_lr, "weight_decay": wd})

    add("head", list(model.head.parameters()), lr)
    stages = model.stage_groups()
    seen = {id(p) for p in model.head.parameters()}
    for depth, stage in enumerate(stages):
        scale = layer_decay ** (len(stages) - 1 - depth) if layer_decay else 1.0
        params = [p for p in stage.parameters() if id(p) not in seen]
        seen.update(id(p) for p in params)
        add(f"backbone.{stage.name}", params, lr * backbone_lr_mult * scale)
    rest = [p for p in model.backbone.parameters() if id(p) not in seen]
    add("backbone.other", rest, lr * backbone_lr_mult)
    return groups


def describe(groups: list[dict]) -> list[dict]:
    """The layout saved in checkpoints, so a resumed run rebuilds the same groups."""
    return [{"name": g["name"], "lr": g["base_lr"], "weight_decay": g["weight_decay"],
             "params": sum(p.numel() for p in g["params"])} for g in groups]

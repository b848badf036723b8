"""Heads for the target task, attached to a backbone's pooled features."""

from __future__ import annotations

import torch
from torch import nn

HEADS = ("linear", "mlp")


def create_head(kind: str, in_features: int, out_features: int, dropout: float = 0.0,
                hidden: int = 512) -> nn.Module:
    """`out_features` is the class count, or 1 for regression."""
    if kind == "linear":
        layers: list[nn.Module] = [nn.Dropout(dropout)] if dropout > 0 else []
        layers.append(nn.Linear(in_features, out_features))
        return nn.Sequential(*layers)
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(in_features, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, out_features),
        )
    from transferlab.errors import ConfigError

    raise ConfigError(f"unknown head {kind!r}; choose one of {HEADS}")


def final_linear(head: nn.Module) -> nn.Linear:
    """The head's output layer: where a linear probe's solution is written."""
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    return linears[-1]


@torch.no_grad()
def set_linear(head: nn.Module, weight: torch.Tensor, bias: torch.Tensor) -> None:
    """Copy a fitted linear classifier (e.g. the probe's) into the head's final Linear."""
    layer = final_linear(head)
    layer.weight.copy_(weight.to(layer.weight))
    layer.bias.copy_(bias.to(layer.bias))

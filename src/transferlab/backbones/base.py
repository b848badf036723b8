"""The one backbone contract every source adapts to.

A backbone turns an image batch into a pooled feature vector. Everything the rest of transferlab
needs from it is here: the features, the size of the features, the stage groups (earliest first)
that freezing and discriminative learning rates work on, the source task's own head where it still
exists, and the frozen WeightsSpec that says how inputs must be prepared.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from transferlab.backbones.weights import WeightsSpec


@dataclass(frozen=True)
class StageGroup:
    """A named slice of the backbone, from input (index 0) towards the head."""

    name: str
    modules: tuple[nn.Module, ...]

    def parameters(self) -> list[nn.Parameter]:
        return [p for m in self.modules for p in m.parameters(recurse=True)]


class Backbone(nn.Module):
    """Pretrained feature extractor: (B, C, H, W) float → (B, num_features)."""

    def __init__(
        self,
        net: nn.Module,
        spec: WeightsSpec,
        num_features: int,
        source_head: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.spec = spec
        self.num_features = num_features
        # The source task's classifier is kept out of the forward path but available (LEEP,
        # sanity checks that the weights are real). It is not part of the transferred model.
        self.set_source_head(source_head)

    @property
    def source_head(self) -> nn.Module | None:
        return self._source_head[0] if self._source_head else None

    def set_source_head(self, head: nn.Module | None) -> None:
        """Replace (or, with None, drop) the source classifier. A method, not a property
        setter: nn.Module.__setattr__ would register the head as a submodule of the backbone."""
        self._source_head = [head] if head is not None else []

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)

    def forward_source(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the source task (e.g. ImageNet), for checking and estimating transfer."""
        if self.source_head is None:
            raise AttributeError(f"{self.spec.architecture} has no source head")
        return self.source_head(self.forward_features(x))

    def stage_groups(self) -> list[StageGroup]:
        """Default grouping: the top-level children in order. Adapters refine this."""
        return [StageGroup(name, (m,)) for name, m in self.net.named_children()
                if any(True for _ in m.parameters())]

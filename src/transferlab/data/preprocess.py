"""What the network sees, as numbers: size, mean/std, channels, interpolation.

One definition for training (`data.transforms`, which applies it in torch) and exported serving
(`deploy.serving.Preprocessing`, which applies it in numpy and adds the decode size), so the two
cannot drift apart. Standard library only: serving imports it without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transferlab.backbones.weights import WeightsSpec

INTERPOLATIONS = ("bilinear", "bicubic")


@dataclass(frozen=True)
class Preprocess:
    """Everything that decides what the network sees; part of feature-cache keys."""

    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    in_chans: int = 3
    interpolation: str = "bilinear"

    @classmethod
    def from_spec(cls, spec: WeightsSpec, size: int | None = None) -> Preprocess:
        """Derived from the weights, never typed by hand; interpolations torch's resize lacks
        (e.g. timm's `bicubic` variants) fall back to bilinear."""
        mode = spec.interpolation if spec.interpolation in INTERPOLATIONS else "bilinear"
        return cls(size or spec.input_size[-1], tuple(spec.mean), tuple(spec.std),
                   spec.input_size[0], mode)

    def key(self) -> str:
        return f"{self.size}-{self.in_chans}-{self.interpolation}-{self.mean}-{self.std}"

"""Pretrained weights as data: a frozen spec that travels with every model, checkpoint and export.

Preprocessing (size, mean/std, interpolation) is derived from the spec, never re-typed by hand,
so a model fine-tuned from ImageNet weights is always fed the way those weights expect.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODALITIES = ("image", "text")
TEXT_SOURCE_PREFIX = "transformers:"  # how specs saved before `modality` existed say "text"


@dataclass(frozen=True)
class WeightsSpec:
    """What a set of weights is and how its inputs must look."""

    architecture: str
    source: str
    pretrained: bool = True
    sha256: str | None = None
    input_size: tuple[int, int, int] = (3, 224, 224)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bilinear"
    labels: tuple[str, ...] = field(default=(), repr=False)
    license: str | None = None
    modality: str = "image"  # "image" | "text": what the weights take; decides data and recipe

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"unknown modality {self.modality!r}; one of {MODALITIES}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        d["labels"] = list(self.labels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WeightsSpec:
        """Read a saved spec; one saved before `modality` existed gets it inferred here, once,
        from its source (text encoders were the only `transformers:` source)."""
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        if known.get("modality") is None:
            text = str(known.get("source", "")).startswith(TEXT_SOURCE_PREFIX)
            known["modality"] = "text" if text else "image"
        for key in ("input_size", "mean", "std", "labels"):
            if key in known and known[key] is not None:
                known[key] = tuple(known[key])
        return cls(**known)

    def with_channels(self, in_chans: int) -> WeightsSpec:
        """The spec for the same weights after the first conv was adapted to `in_chans`."""
        if in_chans == len(self.mean):
            return self
        mean = tuple([sum(self.mean) / len(self.mean)] * in_chans)
        std = tuple([sum(self.std) / len(self.std)] * in_chans)
        return replace(self, input_size=(in_chans, *self.input_size[1:]), mean=mean, std=std)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex digest of a file, streamed so large checkpoints do not load into memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()

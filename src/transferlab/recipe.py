"""The auto recipe: sensible hyper-parameters from dataset size, image size and device.

In the spirit of BiT's HyperRule: a fixed step budget scaled by dataset size, so ten images per
class get many epochs and sixty thousand get few; small source images are upsampled less on a
CPU, where every pixel costs time. Every choice is written into the run's resolved config.
"""

from __future__ import annotations

import math

import torch

from transferlab.strategies import Recipe
from transferlab.weights import WeightsSpec


def auto_image_size(spec: WeightsSpec, source_size: int, device: torch.device) -> int:
    native = spec.input_size[-1]
    if device.type == "cuda":
        return native
    # CPU: compute grows with pixels; tiny sources gain little from being blown up 8x.
    if source_size <= 64:
        return min(native, 96)
    return min(native, 160)


def auto_recipe(n_train: int, spec: WeightsSpec, source_size: int,
                device: torch.device, overrides: dict | None = None) -> Recipe:
    size = auto_image_size(spec, source_size, device)
    if n_train < 5_000:
        batch = 32
    else:
        batch = 256 if device.type == "cuda" else 128
    target_steps = 400 if n_train < 20_000 else 1_200
    epochs = int(min(50, max(5, math.ceil(target_steps * batch / max(n_train, 1)))))
    recipe = Recipe(image_size=size, epochs=epochs, batch_size=batch,
                    lr=1e-3 * math.sqrt(batch / 64))
    if overrides:
        recipe = Recipe(**{**recipe.to_dict(), **{k: v for k, v in overrides.items()
                                                   if v is not None}})
    return recipe

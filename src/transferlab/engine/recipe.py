"""The auto recipe: sensible hyper-parameters from dataset size, image size and device.

In the spirit of BiT's HyperRule: a fixed step budget scaled by dataset size, so ten images per
class get many epochs and sixty thousand get few; small source images are upsampled less on a
CPU, where every pixel costs time. Every choice is written into the run's resolved config.
"""

from __future__ import annotations

import math

import torch

from transferlab.backbones.weights import WeightsSpec
from transferlab.engine.strategies import Recipe


def auto_image_size(spec: WeightsSpec, source_size: int, device: torch.device) -> int:
    native = spec.input_size[-1]
    if device.type == "cuda":
        return native
    # CPU: compute grows with pixels; tiny sources gain little from being blown up 8x.
    if source_size <= 64:
        return min(native, 96)
    return min(native, 160)


def text_recipe(n_train: int, spec: WeightsSpec) -> Recipe:
    """Transformer fine-tuning: head 1e-3, backbone x 0.05 (5e-5, the BERT range), few epochs.

    Pretrained encoders adapt in about a hundred steps; more mostly overfits few-shot data and
    costs minutes per strategy on a CPU. The scratch baseline trains at 1e-3: at the image
    recipe's 2e-3 a randomly initialised MiniLM diverges to chance, which would flatter every
    transfer strategy. No flips/shifts or BN apply to token ids.

    Batches hold texts of about one length (`group_by_length`): a batch is padded to its
    longest text, and on fortunes (MiniLM, finetune, bench/text_speed_bench.py) that made a fit
    2.0-2.7x faster, with test accuracy as high or higher on average for finetune, lp-ft and
    lora (docs/TEXT.md). The scratch phase opts out (`Phase.group_by_length`): there it cost
    accuracy.
    """
    batch = 16 if n_train < 200 else 32
    epochs = int(min(10, max(3, math.ceil(120 * batch / max(n_train, 1)))))
    return Recipe(image_size=spec.input_size[-1], epochs=epochs, batch_size=batch, lr=1e-3,
                  backbone_lr_mult=0.05, weight_decay=0.01, flip=False, shift=0.0,
                  scratch_lr_mult=1.0, group_by_length=True)


def auto_recipe(n_train: int, spec: WeightsSpec, source_size: int,
                device: torch.device, overrides: dict | None = None) -> Recipe:
    if spec.modality == "text":
        return _override(text_recipe(n_train, spec), overrides)
    size = auto_image_size(spec, source_size, device)
    if n_train < 5_000:
        batch = 32
    else:
        batch = 256 if device.type == "cuda" else 128
    target_steps = 400 if n_train < 20_000 else 1_200
    epochs = int(min(50, max(5, math.ceil(target_steps * batch / max(n_train, 1)))))
    # One LR for backbone and head, as BiT does: small grayscale targets sit far from ImageNet
    # and the backbone has to move. bench/recipe_bench.py on Fashion-MNIST (3 seeds) measured
    # backbone x0.1 / x0.3 / x1.0 at 10 per class: 0.703 / 0.729 / 0.738; at 100: 0.806 / - /
    # 0.819. Discriminative LRs stay available (--layer-decay, recipe backbone_lr_mult).
    recipe = Recipe(image_size=size, epochs=epochs, batch_size=batch,
                    lr=1e-3 * math.sqrt(batch / 64), backbone_lr_mult=1.0)
    return _override(recipe, overrides)


MIN_USEFUL_SIZE = 64


def small_input_warning(recipe: Recipe, spec: WeightsSpec) -> str | None:
    """A warning when an image backbone is asked to run below 64 px, else None.

    ImageNet CNNs downsample 32x: at 32 px EfficientNet-Lite0's last feature map is 1x1 and
    1272 of its 1280 pooled features are constant (sd < 1e-3, nearly all zero) on
    Fashion-MNIST, so a linear probe at 10 per class falls from 0.64 (64 px) to 0.34, and
    LP-FT, whose probe head leans on the few live features, stays at chance.
    """
    if spec.modality == "text" or recipe.image_size >= MIN_USEFUL_SIZE:
        return None
    return (f"warning: --image-size {recipe.image_size} is below {MIN_USEFUL_SIZE} px: the "
            "backbone's last feature map shrinks to ~1x1 and most of its features go dead; "
            f"use --image-size {MIN_USEFUL_SIZE} or more")


def _override(recipe: Recipe, overrides: dict | None) -> Recipe:
    unknown = sorted(set(overrides or {}) - set(recipe.to_dict()))
    if unknown:
        from transferlab.errors import ConfigError

        raise ConfigError(f"unknown recipe setting(s) {unknown}; valid: {sorted(recipe.to_dict())}")
    if overrides:
        recipe = Recipe(**{**recipe.to_dict(), **{k: v for k, v in overrides.items()
                                                   if v is not None}})
    return recipe

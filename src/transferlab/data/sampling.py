"""Seeded, stratified selection: few-shot budgets, validation and test splits.

All functions return index tensors and take an explicit seed, so the same seed gives the same
images to every strategy in a comparison.
"""

from __future__ import annotations

import torch

from transferlab.errors import DataError


def _gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def per_class_sample(labels: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """`per_class` random indices from every class (all of a class if it has fewer)."""
    if per_class < 1:
        raise DataError(f"--per-class must be at least 1, got {per_class}")
    g = _gen(seed)
    picked = []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        picked.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.sort(torch.cat(picked)).values


def stratified_split(labels: torch.Tensor, fraction: float, seed: int,
                     min_per_class: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices into (rest, held_out) with `fraction` of each class held out.

    Classes too small to give `min_per_class` held-out images and keep one for training stay
    entirely in `rest`.
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"split fraction must be between 0 and 1, got {fraction}")
    if labels.is_floating_point():  # regression: a plain random split
        perm = torch.randperm(len(labels), generator=_gen(seed))
        k = max(1, int(round(fraction * len(labels))))
        return torch.sort(perm[k:]).values, torch.sort(perm[:k]).values
    g = _gen(seed)
    rest, held = [], []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = max(min_per_class, int(round(fraction * len(idx))))
        if len(idx) - k < 1:
            rest.append(idx)
            continue
        held.append(idx[:k])
        rest.append(idx[k:])
    held_t = torch.cat(held) if held else torch.empty(0, dtype=torch.long)
    return torch.sort(torch.cat(rest)).values, torch.sort(held_t).values
